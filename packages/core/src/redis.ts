import { Redis } from "@upstash/redis/cloudflare";

export type { Redis };

/** Bindings a worker needs to reach Redis: Upstash in production, the local stack's REST endpoint in dev and tests. */
export interface RedisEnv {
  UPSTASH_REDIS_REST_URL: string;
  UPSTASH_REDIS_REST_TOKEN: string;
}

const clients = new Map<string, Redis>();

/**
 * The Upstash Redis client for this env, cached per isolate (it is stateless HTTP).
 * Automatic deserialisation is off: values come back exactly as stored, callers parse what they wrote.
 * Replies come as plain JSON strings rather than base64 (`responseEncoding: false`): everything Foundation
 * stores is UTF-8 text, and decoding base64 cost the event consumers a large share of their CPU per batch.
 * @example await redisFrom(env).xadd("orders", "*", { type: "created" });
 */
export function redisFrom(env: RedisEnv): Redis {
  const key = `${env.UPSTASH_REDIS_REST_URL}|${env.UPSTASH_REDIS_REST_TOKEN}`;
  let client = clients.get(key);
  if (!client) {
    client = new Redis({
      url: env.UPSTASH_REDIS_REST_URL,
      token: env.UPSTASH_REDIS_REST_TOKEN,
      automaticDeserialization: false,
      responseEncoding: false,
      retry: { retries: 2, backoff: (n) => 50 * 2 ** n },
    });
    clients.set(key, client);
  }
  return client;
}
