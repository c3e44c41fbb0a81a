import { z } from "zod";

/** The most shards one key's quota can be split over. */
export const MAX_SHARDS = 64;

const limit = z.number().int().positive().max(1_000_000_000);
const windowMs = z
  .number()
  .int()
  .min(1)
  .max(30 * 24 * 3600 * 1000);
const shards = z
  .number()
  .int()
  .min(1)
  .max(MAX_SHARDS)
  .optional()
  .describe(
    "Split the key's quota over this many limiter objects (default 1), for keys above about 1,000 requests/s. " +
      "Never admits more than `limit`; may refuse early when traffic is uneven across shards, and `remaining` becomes an estimate.",
  );

const reserve = z
  .number()
  .int()
  .min(2)
  .max(100_000)
  .optional()
  .describe(
    "Each isolate takes this many units at once and spends them locally: one limiter round trip per `reserve` requests. " +
      "Never admits more than `limit`; units reserved but unspent when the lease ends (the window's end, at most 1 s) count as spent, " +
      "so up to 1.5 × reserve units per isolate and window may go unused (a lease is refilled when half is left). For quotas far above `reserve` (limit ≥ 100 × reserve).",
  );

/** A lease is taken from one shard, so it must fit in the smallest one. */
const reserveFitsAShard = (p: { limit: number; shards?: number | undefined; reserve?: number | undefined }) =>
  (p.reserve ?? 1) <= Math.floor(p.limit / (p.shards ?? 1));
const reserveTooLarge = { message: "reserve must be at most limit / shards: a lease is taken from one shard", path: ["reserve"] };

/** Every shard needs at least one unit of the limit, or it could never admit anything. */
const everyShardGetsAUnit = (p: { limit: number; shards?: number | undefined }) => p.limit >= (p.shards ?? 1);
/** Aborts, so a request's own check of its cost against the shards does not pile a second error on this one. */
const tooManyShards = { message: "limit must be at least shards: every shard needs at least one unit", path: ["shards"], abort: true };

/** Token bucket: up to `limit` tokens, refilled continuously at `refillPerSecond`. Allows bursts up to `limit`. */
export const TokenBucketPolicy = z
  .object({ algorithm: z.literal("token-bucket"), limit, refillPerSecond: z.number().positive().max(1_000_000_000), shards, reserve })
  .strict()
  .refine(everyShardGetsAUnit, tooManyShards)
  .refine(reserveFitsAShard, reserveTooLarge);

/**
 * Sliding window (two-window weighted approximation, as Cloudflare and @upstash/ratelimit use): the previous
 * window's count weighted by how much of it still overlaps the sliding window.
 */
export const SlidingWindowPolicy = z
  .object({ algorithm: z.literal("sliding-window"), limit, windowMs, shards, reserve })
  .strict()
  .refine(everyShardGetsAUnit, tooManyShards)
  .refine(reserveFitsAShard, reserveTooLarge);

/** Fixed window: at most `limit` per aligned window of `windowMs`; allows up to 2× `limit` across a boundary. */
export const FixedWindowPolicy = z
  .object({ algorithm: z.literal("fixed-window"), limit, windowMs, shards, reserve })
  .strict()
  .refine(everyShardGetsAUnit, tooManyShards)
  .refine(reserveFitsAShard, reserveTooLarge);

/** Sliding log: exact sliding window that keeps one timestamp per admitted unit; for small limits (≤ 1,000); no leases. */
export const SlidingLogPolicy = z
  .object({ algorithm: z.literal("sliding-log"), limit: z.number().int().positive().max(1000), windowMs, shards })
  .strict()
  .refine(everyShardGetsAUnit, tooManyShards);

/**
 * A rate-limit policy, validated at the edge. `shards` (default 1) splits a hot key's quota over several
 * limiter objects, and `reserve` lets each isolate spend leased units locally; see `sharding.ts` and
 * `leases.ts` for what each costs in accuracy.
 */
export const Policy = z.discriminatedUnion("algorithm", [TokenBucketPolicy, SlidingWindowPolicy, FixedWindowPolicy, SlidingLogPolicy]);
/** A rate-limit policy. */
export type Policy = z.infer<typeof Policy>;
/** The algorithms this limiter implements. */
export type Algorithm = Policy["algorithm"];

/** The window a policy describes, in milliseconds (a token bucket's is the time to refill completely). */
export function policyWindowMs(p: Policy): number {
  return p.algorithm === "token-bucket" ? Math.ceil((p.limit / p.refillPerSecond) * 1000) : p.windowMs;
}
