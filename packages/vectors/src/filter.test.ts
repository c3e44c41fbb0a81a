import { sql } from "drizzle-orm";
import { PgDialect } from "drizzle-orm/pg-core";
import { describe, expect, it } from "vitest";
import { compileWhere, FilterError, MAX_FILTER_CONDITIONS } from "./filter.ts";

const dialect = new PgDialect();
const compile = (where: unknown) => dialect.sqlToQuery(compileWhere(sql`metadata`, where));

describe("compileWhere", () => {
  it("puts field names and values in parameters, never in the SQL text (an injection attempt stays a value)", () => {
    const attack = "x'); drop table vector_records; --";
    const q = compile({ [attack]: attack, year: { $gt: 2020 } });
    expect(q.sql).not.toContain("drop table");
    expect(q.sql).toBe(
      "((metadata -> $1::text) = $2::jsonb and (case when jsonb_typeof((metadata -> $3::text)) = 'number' then ((metadata -> $4::text))::numeric > $5::numeric else false end))",
    );
    expect(q.params).toEqual([attack, JSON.stringify(attack), "year", "year", 2020]);
  });

  it("compiles each operator and nests $and and $or", () => {
    const q = compile({
      $or: [{ lang: { $in: ["en", "de"] } }, { $and: [{ lang: { $nin: ["fr"] } }, { score: { $gte: 1, $lt: 2 } }] }],
      tag: { $ne: true },
    });
    expect(q.sql).toContain("coalesce($1::jsonb @> jsonb_build_array((metadata -> $2::text)), false)");
    expect(q.sql).toContain("not coalesce($3::jsonb @> jsonb_build_array((metadata -> $4::text)), false)");
    expect(q.sql).toContain(" >= $7::numeric");
    expect(q.sql).toContain(" < $10::numeric");
    expect(q.sql).toContain("(metadata -> $11::text) is distinct from $12::jsonb");
    expect(q.sql).toMatch(/^\(\(.* or \(.* and .*\)\) and .*\)$/);
    expect(q.params).toEqual(['["en","de"]', "lang", '["fr"]', "lang", "score", "score", 1, "score", "score", 2, "tag", "true"]);
  });

  it("refuses malformed filters with the path of the offending part", () => {
    const refused = (where: unknown) => {
      try {
        compile(where);
      } catch (e) {
        expect(e).toBeInstanceOf(FilterError);
        return (e as FilterError).pointer;
      }
      throw new Error("accepted");
    };
    expect(refused({})).toBe("where");
    expect(refused([])).toBe("where");
    expect(refused({ year: { $regex: "x" } })).toBe("where/year/$regex");
    expect(refused({ year: { $gt: "2020" } })).toBe("where/year/$gt");
    expect(refused({ lang: { $in: [] } })).toBe("where/lang/$in");
    expect(refused({ lang: { $in: ["en", { a: 1 }] } })).toBe("where/lang/$in/1");
    expect(refused({ $or: [] })).toBe("where/$or");
    expect(refused({ $or: [{ a: 1 }, "b"] })).toBe("where/$or/1");
    expect(refused({ $not: { a: 1 } })).toBe("where/$not");
    expect(refused({ a: null })).toBe("where/a");
    expect(refused({ a: {} })).toBe("where/a");
    expect(refused({ a: { $eq: Number.NaN } })).toBe("where/a/$eq");
    expect(refused({ $and: Array.from({ length: MAX_FILTER_CONDITIONS + 1 }, (_, i) => ({ [`f${i}`]: i })) })).toMatch(/^where\/\$and\//);
  });
});
