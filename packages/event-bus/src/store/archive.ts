import { splitStreamId } from "@foundation/core";
import { createDb, events, type DbEnv } from "@foundation/db";
import { and, asc, eq, sql, type SQL } from "drizzle-orm";
import type { Delivery, Outcomes } from "../delivery.ts";
import type { CloudEvent } from "../envelope.ts";
import type { StoredEvent } from "../replay.ts";

/** A row of the `events` table. */
export type EventRow = typeof events.$inferInsert;

/**
 * The event-store row of an event read at `streamId`: its `time` (or, without one, when Redis accepted it)
 * is the row's time, so archiving it again yields the same key.
 * @example archiveRow("orders", { streamId: "1700000000000-0", deliveryCount: 1, event })
 */
export function archiveRow(stream: string, delivery: Pick<Delivery, "streamId" | "event">): EventRow {
  const { streamId, event } = delivery;
  const { ms, seq } = splitStreamId(streamId);
  return {
    stream,
    source: event.source,
    eventId: event.id,
    occurredAt: new Date(event.time ?? ms),
    type: event.type,
    subject: event.subject ?? null,
    correlationId: event.correlationid ?? null,
    streamId,
    streamMs: ms,
    streamSeq: seq,
    event,
  };
}

/** SQLSTATE classes of errors caused by one row's data (22 data exception, 23 integrity, 54 limits). */
function isRowError(err: unknown): boolean {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | null;
  const code = e?.code ?? e?.cause?.code;
  return typeof code === "string" && /^(22|23|54)/.test(code);
}

function errorText(err: unknown): string {
  const e = err as { message?: unknown; cause?: { message?: unknown } } | null;
  return String(e?.cause?.message ?? e?.message ?? err).slice(0, 500);
}

/**
 * Writes delivered events into the event store, idempotently (`ON CONFLICT DO NOTHING` on the event's
 * identity), and reports an outcome per stream id. When Postgres refuses the batch because of one row's
 * data, the rows are written one by one so only the bad event fails (and is retried, then dead-lettered);
 * any other failure fails the whole batch.
 * @example const outcomes = await archiveDeliveries(env, "orders", batch);
 */
export async function archiveDeliveries(env: DbEnv, stream: string, deliveries: readonly Delivery[]): Promise<Outcomes> {
  const db = createDb(env);
  const rows = deliveries.map((d) => archiveRow(stream, d));
  const all = (outcome: { ok: boolean; error?: string }): Outcomes => new Map(deliveries.map((d) => [d.streamId, outcome]));
  try {
    if (rows.length > 0) await db.insert(events).values(rows).onConflictDoNothing();
    return all({ ok: true });
  } catch (err) {
    if (!isRowError(err)) return all({ ok: false, error: `event store: ${errorText(err)}` });
  }
  const out: Outcomes = new Map();
  for (const row of rows) {
    try {
      await db.insert(events).values(row).onConflictDoNothing();
      out.set(row.streamId, { ok: true });
    } catch (err) {
      out.set(row.streamId, { ok: false, error: `event store: ${errorText(err)}` });
    }
  }
  return out;
}

/** Options of {@link readArchive}. */
export interface ArchiveQuery {
  /** Only events after this stream id (exclusive). */
  after?: string;
  /** Only events before this stream id (exclusive): where the stream in Redis begins. */
  before?: string;
  subject?: string;
  limit: number;
}

/**
 * Archived events of a stream in stream order, for replaying what Redis has trimmed already.
 * @example await readArchive(env, "orders", { after: "0-0", before: firstIdInRedis, limit: 100 });
 */
export async function readArchive(env: DbEnv, stream: string, query: ArchiveQuery): Promise<StoredEvent[]> {
  const position = sql`(${events.streamMs}, ${events.streamSeq})`;
  const at = (id: string) => {
    const { ms, seq } = splitStreamId(id);
    return sql`(${ms}::bigint, ${seq}::bigint)`;
  };
  const where: SQL[] = [eq(events.stream, stream)];
  if (query.after) where.push(sql`${position} > ${at(query.after)}`);
  if (query.before) where.push(sql`${position} < ${at(query.before)}`);
  if (query.subject) where.push(eq(events.subject, query.subject));
  const rows = await createDb(env)
    .select({ streamId: events.streamId, event: events.event })
    .from(events)
    .where(and(...where))
    .orderBy(asc(events.streamMs), asc(events.streamSeq))
    .limit(query.limit);
  return rows.map((r) => ({ streamId: r.streamId, event: r.event as CloudEvent }));
}
