import { createDb, logs, type DbEnv } from "@foundation/db";
import { and, arrayContains, desc, eq, gte, ilike, inArray, lt, or, sql, type SQL } from "drizzle-orm";
import { levelsFrom, type LogEntry } from "./entry.ts";
import { encodeCursor, type LogQuery } from "./query.ts";

/** A stored line: an entry with its position in the newest-first order. */
export interface StoredEntry extends LogEntry {
  id: number;
}

/** One page of a search, newest first; `next` is the cursor of the following page, null on the last. */
export interface LogPage {
  entries: StoredEntry[];
  next: string | null;
}

/** Most lines a trace reads: a request that caused more shows its first ones. */
export const MAX_TRACE_LINES = 1000;
/** Most old lines one retention run deletes, so a run stays short; a backlog goes over the following runs. */
export const PRUNE_BATCH = 10_000;

/**
 * Writes `entries` in one INSERT (the caller bounds the batch).
 * @example await insertLogs(env, buffer.take());
 */
export async function insertLogs(env: DbEnv, entries: readonly LogEntry[]): Promise<void> {
  if (entries.length === 0) return;
  await createDb(env)
    .insert(logs)
    .values(
      entries.map((e) => ({
        ts: new Date(e.ts),
        service: e.service,
        level: e.level,
        msg: e.msg,
        correlationIds: e.correlationIds,
        traceId: e.traceId,
        fields: e.fields,
      })),
    );
}

const escapeLike = (s: string) => s.replace(/[\\%_]/g, (c) => `\\${c}`);

/** The filters of `query` as one condition. */
function conditions(query: LogQuery): SQL | undefined {
  const where: Array<SQL | undefined> = [];
  if (query.service) where.push(eq(logs.service, query.service));
  if (query.level) where.push(inArray(logs.level, levelsFrom(query.level)));
  if (query.correlationId) where.push(arrayContains(logs.correlationIds, [query.correlationId]));
  if (query.traceId) where.push(eq(logs.traceId, query.traceId));
  if (query.q) {
    const pattern = `%${escapeLike(query.q)}%`;
    where.push(or(ilike(logs.msg, pattern), sql`${logs.fields}::text ilike ${pattern}`));
  }
  if (query.since !== undefined) where.push(gte(logs.ts, new Date(query.since)));
  if (query.until !== undefined) where.push(lt(logs.ts, new Date(query.until)));
  if (query.cursor)
    where.push(sql`(${logs.ts}, ${logs.id}) < (${new Date(query.cursor.ts).toISOString()}::timestamptz, ${query.cursor.id})`);
  return and(...where);
}

const columns = {
  ts: logs.ts,
  id: logs.id,
  service: logs.service,
  level: logs.level,
  msg: logs.msg,
  correlationIds: logs.correlationIds,
  traceId: logs.traceId,
  fields: logs.fields,
};

type Row = { ts: Date; id: number } & Omit<StoredEntry, "ts" | "id">;
const toEntry = (r: Row): StoredEntry => ({ ...r, ts: r.ts.getTime() });

/**
 * One page of the lines matching `query`, newest first (by time, then by the order they were stored).
 * @example const { entries, next } = await searchLogs(env, LogQuery.parse({ service: "gateway", level: "warn" }));
 */
export async function searchLogs(env: DbEnv, query: LogQuery): Promise<LogPage> {
  const rows = (await createDb(env)
    .select(columns)
    .from(logs)
    .where(conditions(query))
    .orderBy(desc(logs.ts), desc(logs.id))
    .limit(query.limit + 1)) as Row[];
  const entries = rows.slice(0, query.limit).map(toEntry);
  const last = entries.at(-1);
  return { entries, next: rows.length > query.limit && last ? encodeCursor({ ts: last.ts, id: last.id }) : null };
}

/**
 * The first {@link MAX_TRACE_LINES} lines that name `correlationId`, oldest first.
 * @example assembleTrace(id, await traceLines(env, id));
 */
export async function traceLines(env: DbEnv, correlationId: string): Promise<StoredEntry[]> {
  const rows = (await createDb(env)
    .select(columns)
    .from(logs)
    .where(arrayContains(logs.correlationIds, [correlationId]))
    .orderBy(logs.ts, logs.id)
    .limit(MAX_TRACE_LINES)) as Row[];
  return rows.map(toEntry);
}

/**
 * Deletes up to {@link PRUNE_BATCH} lines older than `before`; answers how many went.
 * @example await pruneLogs(env, Date.now() - 7 * 86_400_000);
 */
export async function pruneLogs(env: DbEnv, before: number): Promise<number> {
  const cutoff = new Date(before).toISOString();
  const result = await createDb(env).execute(
    sql`delete from ${logs} where (${logs.ts}, ${logs.id}) in (select ${logs.ts}, ${logs.id} from ${logs} where ${logs.ts} < ${cutoff}::timestamptz limit ${PRUNE_BATCH})`,
  );
  return result.rowCount ?? 0;
}
