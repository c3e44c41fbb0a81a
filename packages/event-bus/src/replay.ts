import { errorFields, HttpProblem, isBefore, redisFrom } from "@foundation/core";
import type { Redis } from "@upstash/redis";
import { parseStoredEvent } from "./delivery.ts";
import type { CloudEvent } from "./envelope.ts";
import type { BusContext } from "./env.ts";
import { partitionCount, partitionOfSubject, partitionStream } from "./partitions.ts";
import { readArchive } from "./store/archive.ts";

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

/** A stream entry with its event still the JSON text the bus stored. */
export interface RawEntry {
  streamId: string;
  json: string;
  /** Set on an entry a redrive wrote for one consumer group: the other groups skip it. */
  group?: string;
}

const isArray = Array.isArray as (v: unknown) => v is unknown[];

/**
 * Reads a raw XRANGE/XREADGROUP entry list (`[[id, [field, value, ...]], ...]`) without parsing the events,
 * skipping foreign entries (those without an `event` field).
 */
export function rawEntries(raw: unknown): RawEntry[] {
  if (!isArray(raw)) return [];
  const out: RawEntry[] = [];
  for (const entry of raw) {
    if (!isArray(entry) || typeof entry[0] !== "string" || !isArray(entry[1])) continue;
    const fields = entry[1];
    let json: string | undefined;
    let group: string | undefined;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      if (fields[i] === "event") json = String(fields[i + 1]);
      else if (fields[i] === "group") group = String(fields[i + 1]);
    }
    if (json !== undefined) out.push(group === undefined ? { streamId: entry[0], json } : { streamId: entry[0], json, group });
  }
  return out;
}

/** An entry whose stored text is not a JSON object, as a replay shows it instead of failing. */
export interface UnreadableEvent {
  streamId: string;
  unreadable: string;
}

/** What a replay returns for one entry. */
export type ReplayedEntry = StoredEvent | UnreadableEvent;

/**
 * Parses a raw XRANGE reply into stored events, skipping foreign entries; an entry whose text is not a JSON object
 * (written by something other than the bus) becomes an {@link UnreadableEvent}, never an error.
 */
export function parseEntries(raw: unknown): ReplayedEntry[] {
  return rawEntries(raw).map(replayed);
}

/** One raw entry as a replay shows it: its event, or why it cannot be read. */
function replayed(e: RawEntry): ReplayedEntry {
  const event = parseStoredEvent(e.json);
  return event ? { streamId: e.streamId, event } : { streamId: e.streamId, unreadable: "the stored event is not a JSON object" };
}

/**
 * Most bytes of stored events one replay with a `subject` filter reads from Redis: past it, the replay answers what
 * it found with the cursor to go on, so a rare subject in a long stream costs many cheap requests, not one huge one.
 */
export const REPLAY_SCAN_BYTES = 1024 * 1024;
/** Most entries one replay with a `subject` filter reads from Redis (see {@link REPLAY_SCAN_BYTES}). */
export const REPLAY_SCAN_ENTRIES = 5000;
/** Entries of the first page a filtered replay reads; later pages are sized from the bytes per entry seen so far. */
const FIRST_SCAN_PAGE = 20;
const MAX_SCAN_PAGE = 500;

/** Limits of the work one filtered replay does. */
export interface ScanBudget {
  bytes: number;
  entries: number;
}

/**
 * The size of the next page a filtered replay reads: what is left of the entry budget, and of the byte budget at the
 * bytes per entry seen so far, between 1 and 500 entries.
 * @example nextScanPage({ bytes: 1000, entries: 10 }, { bytes: 1_000_000, entries: 5000 }) // 500
 */
export function nextScanPage(scanned: ScanBudget, budget: ScanBudget): number {
  const entriesLeft = budget.entries - scanned.entries;
  if (scanned.entries === 0) return Math.max(0, Math.min(FIRST_SCAN_PAGE, entriesLeft));
  const perEntry = Math.max(1, scanned.bytes / scanned.entries);
  const byBytes = Math.floor((budget.bytes - scanned.bytes) / perEntry);
  return Math.max(0, Math.min(MAX_SCAN_PAGE, entriesLeft, Math.max(1, byBytes)));
}

/**
 * Reads events in stream order, optionally after an id and for one subject. With a subject filter it reads ahead in
 * pages until it has `limit` matches, reaches the end, or has read `budget` (at most {@link REPLAY_SCAN_BYTES} and
 * {@link REPLAY_SCAN_ENTRIES} by default); then `next` is the cursor to continue from, even with fewer than `limit`
 * events.
 * @example const page = await replayEvents(redis, "orders", { after: "0-0", limit: 100, subject: "order-42" });
 */
export async function replayEvents(
  redis: Redis,
  stream: string,
  options: ReplayOptions,
  budget: ScanBudget = { bytes: REPLAY_SCAN_BYTES, entries: REPLAY_SCAN_ENTRIES },
): Promise<{ events: ReplayedEntry[]; next: string | null }> {
  // A page of fewer entries than asked for is the stream's end; foreign entries (skipped) still move the cursor.
  const read = async (after: string | undefined, count: number) => {
    const reply: unknown = await redis.xrange(stream, after ? `(${after}` : "-", "+", count);
    const all = isArray(reply) ? reply : [];
    const lastEntry = all.at(-1);
    const last = isArray(lastEntry) && typeof lastEntry[0] === "string" ? lastEntry[0] : after;
    return { entries: rawEntries(all), last, more: all.length === count };
  };
  if (!options.subject) {
    const { entries, last, more } = await read(options.after, options.limit);
    return { events: entries.map(replayed), next: more ? (last ?? null) : null };
  }
  const events: ReplayedEntry[] = [];
  let cursor = options.after;
  const scanned: ScanBudget = { bytes: 0, entries: 0 };
  for (let page = nextScanPage(scanned, budget); page > 0 && scanned.bytes < budget.bytes; page = nextScanPage(scanned, budget)) {
    const { entries, last, more } = await read(cursor, page);
    scanned.entries += page;
    for (const entry of entries) {
      cursor = entry.streamId;
      scanned.bytes += entry.json.length;
      const event = parseStoredEvent(entry.json);
      if (event?.subject !== options.subject) continue;
      events.push({ streamId: entry.streamId, event });
      if (events.length === options.limit) return { events, next: cursor };
    }
    cursor = last;
    if (!more) return { events, next: null };
  }
  return { events, next: cursor ?? null };
}

/** Options of {@link replayTopic}. */
export interface TopicReplayOptions extends ReplayOptions {
  /** The partition to read, for a partitioned topic read without `subject`. */
  partition?: number;
}

/**
 * The Redis stream a replay reads: the topic's own for an unpartitioned topic; for a partitioned one, the
 * partition of `subject` (where all its events are, in order) or the partition asked for (400 otherwise).
 * @example replayStream("orders", 4, { subject: "order-42" }) // "orders~1"
 */
export function replayStream(topic: string, count: number, options: { subject?: string; partition?: number }): string {
  const { subject, partition } = options;
  if (partition !== undefined && partition >= count) {
    throw new HttpProblem(400, {
      slug: "unknown-partition",
      detail: `Stream "${topic}" has ${count} partition(s); ${partition} does not exist.`,
    });
  }
  if (count === 1) return topic;
  if (subject !== undefined) {
    const own = partitionOfSubject(subject, count);
    if (partition !== undefined && partition !== own) {
      throw new HttpProblem(400, {
        slug: "unknown-partition",
        detail: `Events of subject "${subject}" are in partition ${own} of "${topic}", not ${partition}.`,
      });
    }
    return partitionStream(topic, own, count);
  }
  if (partition === undefined) {
    throw new HttpProblem(400, {
      slug: "partition-required",
      detail: `Stream "${topic}" has ${count} partitions; replay one \`subject\` (kept in order in its partition) or one \`partition\` (0-${count - 1}).`,
    });
  }
  return partitionStream(topic, partition, count);
}

/**
 * Replays a topic in order. Where Redis has trimmed the stream past the requested position, the events before
 * its first entry come from the Postgres event store first; a 503 when that store cannot answer, rather than a
 * replay with a silent gap.
 * @example const page = await replayTopic(bus, "orders", { after, limit: 100, subject: "order-42" });
 */
export async function replayTopic(
  bus: BusContext,
  topic: string,
  options: TopicReplayOptions,
): Promise<{ events: ReplayedEntry[]; next: string | null }> {
  const stream = replayStream(topic, partitionCount(topic, bus.settings.partitions), options);
  const redis = redisFrom(bus.env);
  const [first] = parseEntries(await redis.xrange(stream, "-", "+", 1));
  const query = { after: options.after, limit: options.limit, subject: options.subject };
  let archived: StoredEvent[] = [];
  if (!first || !options.after || isBefore(options.after, first.streamId)) {
    try {
      archived = await readArchive(bus.env, stream, { ...query, before: first?.streamId });
    } catch (err) {
      bus.log.error("event store replay failed", { stream, ...errorFields(err) });
      throw new HttpProblem(503, {
        slug: "event-store-unavailable",
        detail: "Part of this stream is only in the event store, which did not answer; retry.",
        headers: { "Retry-After": "1" },
      });
    }
  }
  const last = archived.at(-1)?.streamId;
  if (archived.length === options.limit) return { events: archived, next: last ?? null };
  const page = await replayEvents(redis, stream, { ...query, after: last ?? options.after, limit: options.limit - archived.length });
  return { events: [...archived, ...page.events], next: page.next };
}
