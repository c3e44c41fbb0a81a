import { z } from "zod";

const limit = z.number().int().positive().max(1_000_000_000);
const windowMs = z
  .number()
  .int()
  .min(1)
  .max(30 * 24 * 3600 * 1000);

/** Token bucket: up to `limit` tokens, refilled continuously at `refillPerSecond`. Allows bursts up to `limit`. */
export const TokenBucketPolicy = z
  .object({ algorithm: z.literal("token-bucket"), limit, refillPerSecond: z.number().positive().max(1_000_000_000) })
  .strict();

/**
 * Sliding window (two-window weighted approximation, as Cloudflare and @upstash/ratelimit use): the previous
 * window's count weighted by how much of it still overlaps the sliding window.
 */
export const SlidingWindowPolicy = z.object({ algorithm: z.literal("sliding-window"), limit, windowMs }).strict();

/** Fixed window: at most `limit` per aligned window of `windowMs`; allows up to 2× `limit` across a boundary. */
export const FixedWindowPolicy = z.object({ algorithm: z.literal("fixed-window"), limit, windowMs }).strict();

/** Sliding log: exact sliding window that keeps one timestamp per admitted unit; for small limits (≤ 1,000). */
export const SlidingLogPolicy = z
  .object({ algorithm: z.literal("sliding-log"), limit: z.number().int().positive().max(1000), windowMs })
  .strict();

/** A rate-limit policy, validated at the edge. */
export const Policy = z.discriminatedUnion("algorithm", [TokenBucketPolicy, SlidingWindowPolicy, FixedWindowPolicy, SlidingLogPolicy]);
/** A rate-limit policy. */
export type Policy = z.infer<typeof Policy>;
/** The algorithms this limiter implements. */
export type Algorithm = Policy["algorithm"];

/** The window a policy describes, in milliseconds (a token bucket's is the time to refill completely). */
export function policyWindowMs(p: Policy): number {
  return p.algorithm === "token-bucket" ? Math.ceil((p.limit / p.refillPerSecond) * 1000) : p.windowMs;
}
