import type { Redis } from "@upstash/redis";
import { serialiseEvent, type CloudEvent } from "./envelope.ts";
import { trimRule, type StreamRetention } from "./retention.ts";
import { PUBLISH_SCRIPT, PUBLISH_SCRIPT_SHA1 } from "./scripts.ts";

/** How long an idempotency key is remembered: a retry within this time yields the original events. */
export const IDEMPOTENCY_TTL_SECONDS = 24 * 3600;

/** How often, at most, a stream's retention is checked and applied (per stream, across all publishers). */
export const RETENTION_CHECK_INTERVAL_MS = 1000;

/** Options of {@link publishEvents}. */
export interface PublishOptions {
  /** Deduplicates retries: the same key on the same stream and publisher yields the first publish's ids. */
  idempotencyKey?: string;
  /** Who publishes; scopes the idempotency key so two publishers never share one. */
  publisher?: string;
  /** The stream's retention; without it nothing is trimmed. */
  retention?: StreamRetention;
  /** Clock for age-based retention (default `Date.now`). */
  now?: () => number;
  /** Minimum time between two retention checks of the stream; 0 checks on every publish. */
  retentionCheckIntervalMs?: number;
}

/** What the retention check of a publish did. */
export interface RetentionOutcome {
  /** Entries the retention would have removed but kept because a consumer group still needs them. */
  heldBack: number;
  /** Entries removed from the stream. */
  trimmed: number;
}

/** The outcome of a publish: stream ids in input order, and whether it was a retry of an earlier publish. */
export interface PublishResult {
  streamIds: string[];
  duplicate: boolean;
  /** Present when this publish checked the stream's retention. */
  retention?: RetentionOutcome;
}

/** Redis key of an idempotency record. */
export function idempotencyRecordKey(stream: string, publisher: string, key: string): string {
  return `idem:${stream}:${publisher}:${key}`;
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

/**
 * Appends events to a stream in one round trip and one atomic script: either all are written or none,
 * and a retried publish with the same idempotency key returns the original stream ids instead of writing
 * again. Resolves only after Redis accepted the write. The same script applies the stream's retention
 * (at most once per check interval) without trimming entries a consumer group still needs.
 * @example const { streamIds } = await publishEvents(redis, "ai.responses.raw", [event], { idempotencyKey: "req-1" });
 */
export async function publishEvents(
  redis: Redis,
  stream: string,
  events: readonly CloudEvent[],
  options: PublishOptions = {},
): Promise<PublishResult> {
  if (events.length === 0) return { streamIds: [], duplicate: false };
  const keys = [stream, retentionMarkerKey(stream)];
  if (options.idempotencyKey) keys.push(idempotencyRecordKey(stream, options.publisher ?? "anonymous", options.idempotencyKey));
  const interval = String(options.retentionCheckIntervalMs ?? RETENTION_CHECK_INTERVAL_MS);
  const args = [String(IDEMPOTENCY_TTL_SECONDS), ...trimArgs(options), interval, ...events.map(serialiseEvent)];
  let reply: unknown;
  try {
    reply = await redis.evalsha(PUBLISH_SCRIPT_SHA1, keys, args);
  } catch (err) {
    if (!(err instanceof Error) || !err.message.includes("NOSCRIPT")) throw err;
    reply = await redis.eval(PUBLISH_SCRIPT, keys, args);
  }
  const [duplicate, joined, heldBack, trimmed] = reply as [number, string, number, number];
  const result: PublishResult = { streamIds: String(joined).split(","), duplicate: duplicate === 1 };
  if (Number(heldBack) >= 0) result.retention = { heldBack: Number(heldBack), trimmed: Number(trimmed) };
  return result;
}
