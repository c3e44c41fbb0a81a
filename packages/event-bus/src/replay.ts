import type { Redis } from "@upstash/redis";
import type { CloudEvent } from "./envelope.ts";

/** An event as read back from its stream. */
export interface StoredEvent {
  streamId: string;
  event: CloudEvent;
}

/** Options of {@link replayEvents}. */
export interface ReplayOptions {
  /** Only events after this stream id (exclusive); default: from the start. */
  after?: string;
  limit: number;
  /** Only events with this CloudEvents `subject`. */
  subject?: string;
}

/** Stream ids as Redis writes them: milliseconds, a dash, a sequence number. */
export const STREAM_ID = /^\d{1,20}-\d{1,20}$/;

/** A stream entry with its event still the JSON text the bus stored. */
export interface RawEntry {
  streamId: string;
  json: string;
}

/** Reads a raw XRANGE/XREADGROUP/XCLAIM reply (`[[id, [field, value, ...]], ...]`) without parsing the events, skipping foreign entries. */
export function rawEntries(raw: unknown): RawEntry[] {
  const out: RawEntry[] = [];
  for (const entry of (raw ?? []) as Array<[string, string[]]>) {
    const fields = entry[1];
    const i = fields.indexOf("event");
    const json = i >= 0 ? fields[i + 1] : undefined;
    if (json !== undefined) out.push({ streamId: entry[0], json });
  }
  return out;
}

/** Parses a raw XRANGE reply (`[[id, [field, value, ...]], ...]`) into stored events, skipping foreign entries. */
export function parseEntries(raw: unknown): StoredEvent[] {
  return rawEntries(raw).map((e) => ({ streamId: e.streamId, event: JSON.parse(e.json) as CloudEvent }));
}

/**
 * Reads events in stream order, optionally after an id and for one subject. With a subject filter it
 * reads ahead in pages until it has `limit` matches or reaches the end, at most 50 pages per call.
 * @example const page = await replayEvents(redis, "orders", { after: "0-0", limit: 100, subject: "order-42" });
 */
export async function replayEvents(
  redis: Redis,
  stream: string,
  options: ReplayOptions,
): Promise<{ events: StoredEvent[]; next: string | null }> {
  const events: StoredEvent[] = [];
  let cursor = options.after;
  const page = options.subject ? Math.max(options.limit, 500) : options.limit;
  for (let pages = 0; pages < 50 && events.length < options.limit; pages++) {
    const raw = await redis.xrange(stream, cursor ? `(${cursor}` : "-", "+", page);
    const entries = parseEntries(raw);
    for (const e of entries) {
      cursor = e.streamId;
      if (options.subject && e.event.subject !== options.subject) continue;
      events.push(e);
      if (events.length === options.limit) break;
    }
    if (entries.length < page) return { events, next: events.length === options.limit ? (cursor ?? null) : null };
  }
  return { events, next: cursor ?? null };
}
