/** What the rate-limit bench worker (ratelimit.ts) answers: shared with the Node side of the bench, which imports no worker code. */

/** The decision paths the worker can take, `none` being the floor that takes no decision. */
export const VARIANTS = [
  "none",
  "ours.sliding-window",
  "ours.sliding-window-exact",
  "ours.token-bucket",
  "ours.deny-cache",
  "upstash.sliding-window",
  "upstash.token-bucket",
  "ours.shards-1",
  "ours.shards-4",
  "ours.shards-16",
] as const;
/** One decision path. */
export type Variant = (typeof VARIANTS)[number];

/** What `/decide` answers: whether the request was admitted and who decided. */
export interface DecideAnswer {
  allowed: boolean;
  /** `limiter`/`deny-cache` (ours), `redis` (@upstash/ratelimit), `none`. */
  source: string;
}

/** The shard counts of the `ours.shards-<n>` variants. */
export const SHARD_COUNTS = [1, 4, 16] as const;

/** What `/burst` answers. */
export interface BurstAnswer {
  decisions: number;
  allowed: number;
  /** Wall time of the burst, on workerd's whole-millisecond clock. */
  elapsedMs: number;
}

/** What `/loop` answers. */
export interface LoopAnswer {
  n: number;
  /** Wall time of the `n` decisions together, on workerd's whole-millisecond clock. */
  elapsedMs: number;
  allowed: number;
  sources: Record<string, number>;
}
