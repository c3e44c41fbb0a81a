/**
 * Sharding a hot key: one `RateLimiter` object answers about 1,000 requests/s, so a key above that splits its
 * quota over `shards` objects. Each request asks one shard picked at random; a shard that refuses hands the
 * request to the next shard, once, before it is refused.
 *
 * Accuracy trade-off:
 * - Never more than the limit: the shards' limits (and a token bucket's refill rates) sum exactly to the
 *   policy's, every shard is an exact limiter on its own object, and a request takes units from the one shard
 *   that admitted it. Whatever the algorithm guarantees for one key, the sharded key guarantees too.
 * - May refuse early: a refusal means both shards asked, the picked one and the next, could not admit the
 *   request, so at least `2 × floor(limit / shards)` units of the window were spent (for a cost of 1; a cost c
 *   can strand up to c − 1 units in each shard). The other shards may still have room when traffic is uneven:
 *   in the worst case, every request picking the same shard, refusals start once two shards are spent and the
 *   rest of the quota goes unused. Random picks make that unlikely: 200 requests at once against 100 units over
 *   4 shards leave more than 10 units unused with a probability below 2 × 10⁻¹⁰. With 2 shards both are always
 *   asked, so a cost of 1 is never refused early.
 * - The deny cache remembers refusals per shard, so it answers a request locally only when both shards the
 *   request would ask are known to be refused; one spent pair of shards does not close the whole key.
 * - `remaining` is an estimate: the asked shards' remaining units scaled up to the whole limit, as if every
 *   shard were as full; `resetMs` is the latest of the asked shards'.
 * Only worth it for keys above ~1,000 requests/s; below that one object is exact and sharding buys nothing.
 */
import type { Decision } from "./algorithms/index.ts";
import type { Policy } from "./policy.ts";

/** The number of shards a policy splits its key over (1 when it does not). */
export function shardCount(policy: Policy): number {
  return policy.shards ?? 1;
}

/**
 * The limit of shard `index` of `shards`: `floor(limit / shards)`, one more for the first `limit % shards`
 * shards, so the shards' limits sum exactly to `limit`.
 * @example shardLimit(10, 4, 0) // 3 (shards get 3, 3, 2, 2)
 */
export function shardLimit(limit: number, shards: number, index: number): number {
  return Math.floor(limit / shards) + (index < limit % shards ? 1 : 0);
}

/**
 * The largest cost a sharded policy can ever admit: the smallest shard's limit (the whole limit when unsharded).
 * @example maxCost({ algorithm: "fixed-window", limit: 10, windowMs: 1000, shards: 4 }) // 2
 */
export function maxCost(policy: Policy): number {
  return Math.floor(policy.limit / shardCount(policy));
}

/**
 * The policy shard `index` applies on its own object: its share of the limit and, for a token bucket, the same
 * share of the refill rate, so every shard refills completely in the policy's window. An unsharded policy comes
 * back unchanged but for the `shards` field, which a shard has no use for.
 * @example shardPolicy({ algorithm: "token-bucket", limit: 10, refillPerSecond: 5, shards: 4 }, 3) // { …, limit: 2, refillPerSecond: 1 }
 */
export function shardPolicy(policy: Policy, index: number): Policy {
  const shards = shardCount(policy);
  if (!Number.isInteger(index) || index < 0 || index >= shards) throw new RangeError(`shard ${index} does not exist among ${shards}`);
  let computed = shardPolicies.get(policy);
  if (!computed) {
    computed = [];
    shardPolicies.set(policy, computed);
  }
  return (computed[index] ??= Object.freeze(splitPolicy(policy, shards, index)));
}

/** Shard policies by policy object, computed once: a middleware asks for the same policy's shards on every request. */
const shardPolicies = new WeakMap<Policy, Policy[]>();

function splitPolicy(policy: Policy, shards: number, index: number): Policy {
  const { shards: _shards, ...whole } = policy;
  if (shards === 1) return whole;
  const limit = shardLimit(policy.limit, shards, index);
  if (whole.algorithm === "token-bucket") return { ...whole, limit, refillPerSecond: (whole.refillPerSecond * limit) / policy.limit };
  return { ...whole, limit };
}

/**
 * The name of shard `index`'s limiter object. Shard 0 is the key itself, so a key that becomes sharded keeps
 * its count in shard 0 (and an unsharded key keeps its state). The NUL separator keeps shard names apart from
 * ordinary keys; since keys are namespaced per caller, a key with a NUL in it could only reach the caller's own.
 * @example shardKey("api:ip:203.0.113.1", 0) // "api:ip:203.0.113.1"
 */
export function shardKey(key: string, index: number): string {
  return index === 0 ? key : `${key}\u0000shard:${index}`;
}

/**
 * The shards a request asks, in order: one picked at random, then the next one (none for an unsharded key).
 * `random` returns a number in [0, 1), like `Math.random`, which is the default.
 * @example probeOrder(4, () => 0.9) // [3, 0]
 */
export function probeOrder(shards: number, random: () => number = Math.random): number[] {
  if (shards === 1) return [0];
  const first = Math.min(shards - 1, Math.floor(random() * shards));
  return [first, (first + 1) % shards];
}

/**
 * The decision reported for a key from the decisions of the shards a request asked, in order: allowed when the
 * last one admitted it; `limit` is the policy's; `remaining` estimates the whole key's from the asked shards'
 * (scaled by limit / their limits, so exact for an unsharded key and for evenly spread traffic); `retryAfterMs`
 * is the earliest of the asked shards'. An unsharded key's one decision is returned as it is.
 * @example combineDecisions(policy4x25, [{ allowed: true, limit: 25, remaining: 20, resetMs: 900, retryAfterMs: 0 }]).remaining // 80
 */
export function combineDecisions(policy: Policy, decisions: readonly Decision[]): Decision {
  const last = decisions.at(-1);
  if (!last) throw new RangeError("no shard decision to combine");
  if (shardCount(policy) === 1) return last;
  let capacity = 0;
  let left = 0;
  let resetMs = 0;
  let retryAfterMs = Number.POSITIVE_INFINITY;
  for (const d of decisions) {
    capacity += d.limit;
    left += d.remaining;
    resetMs = Math.max(resetMs, d.resetMs);
    retryAfterMs = Math.min(retryAfterMs, d.retryAfterMs);
  }
  return {
    allowed: last.allowed,
    limit: policy.limit,
    remaining: Math.min(policy.limit, Math.floor((left * policy.limit) / capacity)),
    resetMs,
    retryAfterMs: last.allowed ? 0 : retryAfterMs,
  };
}
