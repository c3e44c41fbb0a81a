import type { RecordInput } from "./model.ts";
import { MAX_UPSERT_RECORDS } from "./model.ts";
import { upsertRecords, type VectorEnv } from "./store.ts";

/** What indexing needs of an event: its id (a CloudEvent's, as the bus delivers it) and whatever `toRecord` reads. */
export interface IndexableEvent {
  id: string;
  type?: string;
  subject?: string | undefined;
  data?: unknown;
}

/** A record without its id: the event id becomes the id. `null` skips the event. */
export type EventRecord = Omit<RecordInput, "id"> | null;

/**
 * Upserts one record per event into a collection, keyed by the event id, so a redelivered event replaces its own
 * record instead of adding another: indexing is idempotent under the bus's at-least-once delivery.
 * @example
 *   app.subscribe("ai.responses.raw", (event, { env }) =>
 *     indexEvents(env, "responses", [event], (e) => ({ embedding: (e.data as Raw).embedding, document: (e.data as Raw).text })));
 */
export async function indexEvents<E extends IndexableEvent>(
  env: VectorEnv,
  collection: string,
  events: readonly E[],
  toRecord: (event: E) => EventRecord | Promise<EventRecord>,
): Promise<{ indexed: number; skipped: number }> {
  const records: RecordInput[] = [];
  for (const event of events) {
    const record = await toRecord(event);
    if (record) records.push({ ...record, id: event.id });
  }
  for (let i = 0; i < records.length; i += MAX_UPSERT_RECORDS) {
    await upsertRecords(env, collection, records.slice(i, i + MAX_UPSERT_RECORDS));
  }
  return { indexed: records.length, skipped: events.length - records.length };
}
