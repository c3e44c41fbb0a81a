import type { Redis } from "@upstash/redis";
import { serialiseEvent, type CloudEvent } from "./envelope.ts";
import { trimRule, type StreamRetention } from "./retention.ts";
import { PUBLISH_SCRIPT, PUBLISH_SCRIPT_SHA1 } from "./scripts.ts";

/** How long an idempotency key is remembered: a retry within this time yields the original events. */
export const IDEMPOTENCY_TTL_SECONDS = 24 * 3600;

/** How often, at most, a stream's retention is checked and applied (per stream, across all publishers). */
export const RETENTION_CHECK_INTERVAL_MS = 1000;

/** Options of {@link publishEvents} and {@link publishBatches}. */
export interface PublishOptions {
  /** Deduplicates retries: the same key on the same stream and publisher yields the first publish's ids. */
  idempotencyKey?: string;
  /** Who publishes; scopes the idempotency key so two publishers never share one. */
  publisher?: string;
  /**
   * The hash of the request that carries the idempotency key: a later request with the same key and another hash
   * is refused ({@link IdempotencyConflict}). Without one, any request with the key is a retry of the first.
   */
  requestHash?: string;
  /** The streams' retention; without it nothing is trimmed. */
  retention?: StreamRetention;
  /** Clock for age-based retention (default `Date.now`). */
  now?: () => number;
  /** Minimum time between two retention checks of a stream; 0 checks on every publish. */
  retentionCheckIntervalMs?: number;
  /**
   * The publisher's quota of new topics: creating a topic nobody published to before counts against it, and a
   * publish past it throws {@link NewTopicQuotaExceeded}. Without one, topics are created freely.
   */
  newTopics?: { limit: number; windowMs: number };
}

/** What the retention check of a publish did. */
export interface RetentionOutcome {
  /** Entries the retention would have removed but kept because a consumer group still needs them. */
  heldBack: number;
  /** Entries removed from the stream. */
  trimmed: number;
}

/** The outcome of a publish to one stream: stream and event ids in input order, and whether it was a retry. */
export interface PublishResult {
  streamIds: string[];
  /** The ids of the events as stored: a retry answers the first publish's, not its own. */
  eventIds: string[];
  duplicate: boolean;
  /** Present when this publish checked the stream's retention. */
  retention?: RetentionOutcome;
}

/** Events for one stream, in the order they are appended. */
export interface StreamBatch {
  stream: string;
  events: readonly CloudEvent[];
}

/** An idempotency key was used before with another request: nothing was written. */
export class IdempotencyConflict extends Error {
  override readonly name = "IdempotencyConflict";
}

/** The publish would create a topic, and its publisher has created as many as its quota allows: nothing was written. */
export class NewTopicQuotaExceeded extends Error {
  override readonly name = "NewTopicQuotaExceeded";

  constructor(
    readonly limit: number,
    /** Milliseconds until the publisher may create a topic again. */
    readonly retryAfterMs: number,
  ) {
    super(`the publisher may create ${limit} new streams per window; retry in ${Math.ceil(retryAfterMs / 1000)} s`);
  }
}

/** Redis set of every topic published to: a topic not in it (and without streams) is new. */
export const KNOWN_TOPICS_KEY = "topics";

/**
 * Redis key counting the topics a publisher created in the current window.
 * @example newTopicCounterKey("billing:eu") // "quota:new-topics:billing%3Aeu"
 */
export function newTopicCounterKey(publisher: string): string {
  return `quota:new-topics:${encodeURIComponent(publisher)}`;
}

/**
 * Redis key of an idempotency record: scope, publisher and key each encoded, so no two (publisher, key) pairs
 * can share a record whatever characters they hold.
 * @example idempotencyRecordKey("orders", "billing:eu", "k1") // "idem:orders:billing%3Aeu:k1"
 */
export function idempotencyRecordKey(scope: string, publisher: string, key: string): string {
  return `idem:${scope}:${encodeURIComponent(publisher)}:${encodeURIComponent(key)}`;
}

/** Redis key that spaces out a stream's retention checks. */
export function retentionMarkerKey(stream: string): string {
  return `trim:${stream}`;
}

function trimArgs(options: PublishOptions): [string, string] {
  if (!options.retention) return ["none", ""];
  const rule = trimRule(options.retention, (options.now ?? Date.now)());
  if (rule.kind === "maxlen") return ["maxlen", String(rule.maxLen)];
  if (rule.kind === "minid") return ["minid", rule.minId];
  return ["none", ""];
}

const split = (joined: unknown) => (joined === "" ? [] : String(joined).split(","));

/** Events for one stream as the publish script takes them: their ids and their JSON, each within the size limit. */
export interface SerialisedBatch {
  stream: string;
  ids: string[];
  payloads: string[];
}

/**
 * Serialises batches for {@link publishSerialised}; throws a `RangeError` for an event over the size limit.
 * @example publishSerialised(redis, serialiseBatches([{ stream: "orders", events }]), "orders")
 */
export function serialiseBatches(batches: readonly StreamBatch[]): SerialisedBatch[] {
  return batches.map((b) => ({ stream: b.stream, ids: b.events.map((e) => e.id), payloads: b.events.map(serialiseEvent) }));
}

/**
 * Appends events to one or more streams (a topic's partitions) in one round trip and one atomic script: every
 * event is written or none. A retry with the same idempotency key (`scope` names the record, normally the topic)
 * returns the first publish's stream and event ids and writes nothing; the same key with another `requestHash`
 * throws {@link IdempotencyConflict}, also writing nothing; so does a new topic past the publisher's quota
 * ({@link NewTopicQuotaExceeded}). `scope` is also the topic the quota counts. Resolves only after Redis accepted the write. The same
 * script applies each stream's retention (at most once per check interval) without trimming entries a consumer
 * group still needs.
 * @example const [orders] = await publishBatches(redis, [{ stream: "orders", events }], "orders", { idempotencyKey: "req-1" });
 */
export function publishBatches(
  redis: Redis,
  batches: readonly StreamBatch[],
  scope: string,
  options: PublishOptions = {},
): Promise<PublishResult[]> {
  return publishSerialised(redis, serialiseBatches(batches), scope, options);
}

/** {@link publishBatches} of events serialised already ({@link serialiseBatches}). */
export async function publishSerialised(
  redis: Redis,
  batches: readonly SerialisedBatch[],
  scope: string,
  options: PublishOptions = {},
): Promise<PublishResult[]> {
  const key = options.idempotencyKey;
  const record = Boolean(key);
  const publisher = options.publisher ?? "anonymous";
  const keys = batches.flatMap((b) => [b.stream, retentionMarkerKey(b.stream)]);
  keys.push(KNOWN_TOPICS_KEY, newTopicCounterKey(publisher));
  if (key) keys.push(idempotencyRecordKey(scope, publisher, key));
  const interval = String(options.retentionCheckIntervalMs ?? RETENTION_CHECK_INTERVAL_MS);
  const quota = options.newTopics;
  const args = [String(IDEMPOTENCY_TTL_SECONDS), options.requestHash ?? "", ...trimArgs(options), interval, String(batches.length)];
  args.push(scope, quota ? String(quota.limit) : "-1", String(quota?.windowMs ?? 0));
  for (const b of batches) {
    args.push(String(b.payloads.length));
    // The record keeps the event ids, so that a retry answers the first publish's; without one they stay here.
    if (record) for (const id of b.ids) args.push(id);
    for (const payload of b.payloads) args.push(payload);
  }
  let reply: unknown;
  try {
    reply = await redis.evalsha(PUBLISH_SCRIPT_SHA1, keys, args);
  } catch (err) {
    if (!(err instanceof Error) || !err.message.includes("NOSCRIPT")) throw err;
    reply = await redis.eval(PUBLISH_SCRIPT, keys, args);
  }
  const out = reply as unknown[];
  const status = Number(out[0]);
  if (status === 2) throw new IdempotencyConflict(`idempotency key ${options.idempotencyKey ?? ""} was used with another request`);
  if (status === 3) throw new NewTopicQuotaExceeded(quota?.limit ?? 0, Number(out[1]));
  return batches.map((b, i): PublishResult => {
    const kept = out[2 + 2 * i] as unknown[];
    const eventIds = status === 1 ? kept.map(String) : b.ids;
    const result: PublishResult = { streamIds: split(out[1 + 2 * i]), eventIds, duplicate: status === 1 };
    const heldBack = Number(out[1 + 2 * batches.length + 2 * i]);
    if (heldBack >= 0) result.retention = { heldBack, trimmed: Number(out[2 + 2 * batches.length + 2 * i]) };
    return result;
  });
}

/**
 * Appends events to one stream atomically (see {@link publishBatches}); a retry with the same idempotency key
 * returns the original ids instead of writing again.
 * @example const { streamIds } = await publishEvents(redis, "ai.responses.raw", [event], { idempotencyKey: "req-1" });
 */
export async function publishEvents(
  redis: Redis,
  stream: string,
  events: readonly CloudEvent[],
  options: PublishOptions = {},
): Promise<PublishResult> {
  if (events.length === 0) return { streamIds: [], eventIds: [], duplicate: false };
  const [result] = await publishBatches(redis, [{ stream, events }], stream, options);
  return result ?? { streamIds: [], eventIds: [], duplicate: false };
}
