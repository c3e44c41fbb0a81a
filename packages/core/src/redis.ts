import { Redis } from "@upstash/redis/cloudflare";

export type { Redis };

/** Bindings a worker needs to reach Redis: Upstash in production, the local stack's REST endpoint in dev and tests. */
export interface RedisEnv {
  UPSTASH_REDIS_REST_URL: string;
  UPSTASH_REDIS_REST_TOKEN: string;
  /** How long one Redis request may take in ms, retries included (default {@link DEFAULT_REDIS_TIMEOUT_MS}). */
  REDIS_TIMEOUT_MS?: string;
}

/** The default deadline of one Redis request: well above a healthy round trip, a 1,000-event publish included. */
export const DEFAULT_REDIS_TIMEOUT_MS = 3000;

/** `REDIS_TIMEOUT_MS` when it is a positive integer, else the default (the vars schema reports a malformed value). */
export function redisTimeoutMs(env: Pick<RedisEnv, "REDIS_TIMEOUT_MS">): number {
  const ms = Number(env.REDIS_TIMEOUT_MS === "" ? undefined : env.REDIS_TIMEOUT_MS);
  return Number.isInteger(ms) && ms > 0 ? ms : DEFAULT_REDIS_TIMEOUT_MS;
}

const clients = new Map<string, Redis>();

/**
 * The Upstash Redis client for this env, cached per isolate (it is stateless HTTP).
 * Automatic deserialisation is off: values come back exactly as stored, callers parse what they wrote.
 * Replies come as plain JSON strings rather than base64 (`responseEncoding: false`): everything Foundation
 * stores is UTF-8 text, and decoding base64 cost the event consumers a large share of their CPU per batch.
 * Every request has a deadline (`REDIS_TIMEOUT_MS`) and rejects with a `TimeoutError` past it: a hung Redis
 * must not hold a request for as long as the runtime lets it.
 * Auto-pipelining is off: it routes every command through a `Proxy` and a fresh `Pipeline` object (about 40 µs of
 * CPU per command in workerd, measured in one isolate) and batches only commands issued in the same microtask,
 * which a request's sequential commands never are. Callers that want one round trip for several commands say so
 * with `redis.pipeline()` or `redis.multi()`.
 * @example await redisFrom(env).xadd("orders", "*", { type: "created" });
 */
export function redisFrom(env: RedisEnv): Redis {
  const timeoutMs = redisTimeoutMs(env);
  const key = `${env.UPSTASH_REDIS_REST_URL}|${env.UPSTASH_REDIS_REST_TOKEN}|${timeoutMs}`;
  let client = clients.get(key);
  if (!client) {
    client = new Redis({
      url: env.UPSTASH_REDIS_REST_URL,
      token: env.UPSTASH_REDIS_REST_TOKEN,
      automaticDeserialization: false,
      responseEncoding: false,
      // The client calls this once per request, before its first attempt: the deadline covers the retries and
      // their backoff too, and an aborted request is thrown, not retried.
      signal: () => AbortSignal.timeout(timeoutMs),
      // Retried: only requests that got no answer at all (a network error); an error answer is final.
      retry: { retries: 2, backoff: (n) => 50 * 2 ** n },
      enableAutoPipelining: false,
    });
    clients.set(key, client);
  }
  return client;
}
