import { sql, type SQL } from "drizzle-orm";
import { z } from "zod";

/** A scalar a metadata field may be compared with. */
export type FilterScalar = string | number | boolean;

/**
 * A metadata filter in the style of Chroma's `where`: `{field: value}` (equality), `{field: {$op: value}}` with
 * `$eq $ne $in $nin $gt $gte $lt $lte`, and `{$and: [...]}`, `{$or: [...]}`. Several keys in one object must all hold.
 */
export type Where = { [key: string]: unknown };

/** A filter the compiler refused, with the path of the offending part (e.g. `where/$or/1/year/$gt`). */
export class FilterError extends Error {
  constructor(
    readonly pointer: string,
    message: string,
  ) {
    super(`${pointer}: ${message}`);
    this.name = "FilterError";
  }
}

/** Most conditions one filter may hold, so a request cannot make the planner's work unbounded. */
export const MAX_FILTER_CONDITIONS = 100;
/** Most values a `$in` or `$nin` list may hold. */
export const MAX_IN_VALUES = 1000;

const Scalar = z.union([z.string().max(4096), z.number(), z.boolean()]);
const Field = z.string().min(1).max(256);
const COMPARISONS = { $gt: ">", $gte: ">=", $lt: "<", $lte: "<=" } as const;

interface Budget {
  left: number;
}

/** The metadata field `key` as jsonb; the key is a parameter, never part of the SQL text. */
const fieldOf = (metadata: SQL, key: string) => sql`(${metadata} -> ${key}::text)`;

function scalar(value: unknown, pointer: string): FilterScalar {
  const parsed = Scalar.safeParse(value);
  if (!parsed.success) throw new FilterError(pointer, "expected a string, a finite number or a boolean");
  return parsed.data;
}

function condition(metadata: SQL, key: string, op: string, value: unknown, pointer: string): SQL {
  const field = fieldOf(metadata, key);
  switch (op) {
    case "$eq":
      return sql`${field} = ${JSON.stringify(scalar(value, pointer))}::jsonb`;
    case "$ne":
      // A record without the field is not equal to the value, so it matches.
      return sql`${field} is distinct from ${JSON.stringify(scalar(value, pointer))}::jsonb`;
    case "$in":
    case "$nin": {
      if (!Array.isArray(value) || value.length === 0 || value.length > MAX_IN_VALUES) {
        throw new FilterError(pointer, `expected a list of 1 to ${MAX_IN_VALUES} values`);
      }
      const list = JSON.stringify(value.map((v, i) => scalar(v, `${pointer}/${i}`)));
      const member = sql`coalesce(${list}::jsonb @> jsonb_build_array(${field}), false)`;
      return op === "$in" ? member : sql`not ${member}`;
    }
    case "$gt":
    case "$gte":
    case "$lt":
    case "$lte": {
      if (typeof value !== "number" || !Number.isFinite(value)) throw new FilterError(pointer, "expected a finite number");
      // Only numeric fields compare; a CASE keeps the cast from running on a string or a missing field.
      return sql`(case when jsonb_typeof(${field}) = 'number' then (${field})::numeric ${sql.raw(COMPARISONS[op])} ${value}::numeric else false end)`;
    }
    default:
      throw new FilterError(pointer, `unknown operator ${JSON.stringify(op)}; use $eq, $ne, $in, $nin, $gt, $gte, $lt or $lte`);
  }
}

function compileField(metadata: SQL, key: string, value: unknown, pointer: string, budget: Budget): SQL {
  if (!Field.safeParse(key).success) throw new FilterError(pointer, "a field name has 1 to 256 characters");
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    const entries = Object.entries(value);
    if (entries.length === 0) throw new FilterError(pointer, "an operator object needs at least one operator");
    const parts = entries.map(([op, v]) => {
      if (--budget.left < 0) throw new FilterError(pointer, `a filter holds at most ${MAX_FILTER_CONDITIONS} conditions`);
      return condition(metadata, key, op, v, `${pointer}/${op}`);
    });
    return parts.length === 1 ? parts[0]! : sql`(${sql.join(parts, sql` and `)})`;
  }
  if (--budget.left < 0) throw new FilterError(pointer, `a filter holds at most ${MAX_FILTER_CONDITIONS} conditions`);
  return condition(metadata, key, "$eq", value, pointer);
}

function compileNode(metadata: SQL, where: unknown, pointer: string, budget: Budget): SQL {
  if (where === null || typeof where !== "object" || Array.isArray(where)) throw new FilterError(pointer, "expected an object");
  const entries = Object.entries(where);
  if (entries.length === 0) throw new FilterError(pointer, "an empty filter; leave `where` out to match every record");
  const parts = entries.map(([key, value]) => {
    const at = `${pointer}/${key}`;
    if (key === "$and" || key === "$or") {
      if (!Array.isArray(value) || value.length === 0) throw new FilterError(at, "expected a non-empty list of filters");
      const children = value.map((child, i) => compileNode(metadata, child, `${at}/${i}`, budget));
      return children.length === 1 ? children[0]! : sql`(${sql.join(children, key === "$and" ? sql` and ` : sql` or `)})`;
    }
    if (key.startsWith("$")) throw new FilterError(at, `unknown operator ${JSON.stringify(key)} at the top of a filter; use $and or $or`);
    return compileField(metadata, key, value, at, budget);
  });
  return parts.length === 1 ? parts[0]! : sql`(${sql.join(parts, sql` and `)})`;
}

/**
 * Compiles a metadata filter into a parameterized SQL condition on the jsonb column `metadata`: field names and
 * values travel as parameters, never in the SQL text. Throws {@link FilterError} for a malformed filter.
 * @example db.select().from(t).where(compileWhere(sql`${t.metadata}`, { year: { $gte: 2020 }, lang: "en" }));
 */
export function compileWhere(metadata: SQL, where: unknown): SQL {
  return compileNode(metadata, where, "where", { left: MAX_FILTER_CONDITIONS });
}
