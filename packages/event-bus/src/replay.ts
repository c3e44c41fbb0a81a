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
  return rawEntries(raw).map((e) => {
    const event = parseStoredEvent(e.json);
    return event ? { streamId: e.streamId, event } : { streamId: e.streamId, unreadable: "the stored event is not a JSON object" };
  });
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
): Promise<{ events: ReplayedEntry[]; next: string | null }> {
  const events: ReplayedEntry[] = [];
  let cursor = options.after;
  const page = options.subject ? Math.max(options.limit, 500) : options.limit;
  for (let pages = 0; pages < 50 && events.length < options.limit; pages++) {
    const raw = await redis.xrange(stream, cursor ? `(${cursor}` : "-", "+", page);
    const entries = parseEntries(raw);
    for (const e of entries) {
      cursor = e.streamId;
      if (options.subject && !("event" in e && e.event.subject === options.subject)) continue;
      events.push(e);
      if (events.length === options.limit) break;
    }
    if (entries.length < page) return { events, next: events.length === options.limit ? (cursor ?? null) : null };
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
