import type { Redis } from "@upstash/redis";
import { serialiseEvent, type CloudEvent } from "./envelope.ts";
import { PUBLISH_SCRIPT, PUBLISH_SCRIPT_SHA1 } from "./scripts.ts";

/** How long an idempotency key is remembered: a retry within this time yields the original events. */
export const IDEMPOTENCY_TTL_SECONDS = 24 * 3600;

/** Options of {@link publishEvents}. */
export interface PublishOptions {
  /** Deduplicates retries: the same key on the same stream and publisher yields the first publish's ids. */
  idempotencyKey?: string;
  /** Who publishes; scopes the idempotency key so two publishers never share one. */
  publisher?: string;
  /** Approximate MAXLEN retention of the stream; 0 keeps everything. */
  maxLen?: number;
}

/** The outcome of a publish: stream ids in input order, and whether it was a retry of an earlier publish. */
export interface PublishResult {
  streamIds: string[];
  duplicate: boolean;
}

/** Redis key of an idempotency record. */
export function idempotencyRecordKey(stream: string, publisher: string, key: string): string {
  return `idem:${stream}:${publisher}:${key}`;
}

/**
 * Appends events to a stream in one round trip and one atomic script: either all are written or none,
 * and a retried publish with the same idempotency key returns the original stream ids instead of writing
 * again. Resolves only after Redis accepted the write.
 * @example const { streamIds } = await publishEvents(redis, "ai.responses.raw", [event], { idempotencyKey: "req-1" });
 */
export async function publishEvents(
  redis: Redis,
  stream: string,
  events: readonly CloudEvent[],
  options: PublishOptions = {},
): Promise<PublishResult> {
  if (events.length === 0) return { streamIds: [], duplicate: false };
  const keys = [stream];
  if (options.idempotencyKey) keys.push(idempotencyRecordKey(stream, options.publisher ?? "anonymous", options.idempotencyKey));
  const args = [String(IDEMPOTENCY_TTL_SECONDS), String(options.maxLen ?? 0), ...events.map(serialiseEvent)];
  let reply: unknown;
  try {
    reply = await redis.evalsha(PUBLISH_SCRIPT_SHA1, keys, args);
  } catch (err) {
    if (!(err instanceof Error) || !err.message.includes("NOSCRIPT")) throw err;
    reply = await redis.eval(PUBLISH_SCRIPT, keys, args);
  }
  const [duplicate, joined] = reply as [number, string];
  return { streamIds: String(joined).split(","), duplicate: duplicate === 1 };
}
