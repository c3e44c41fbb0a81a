import { nextTurn } from "@foundation/core";
import type { Decision } from "./algorithms/index.ts";
import type { DenyCache } from "./deny-cache.ts";
import type { RateLimiter } from "./durable-object.ts";
import type { LeaseCache } from "./leases.ts";
import type { Policy } from "./policy.ts";
import { combineDecisions, probeOrder, shardCount, shardKey, shardPolicy } from "./sharding.ts";

/** Why a decision did not come from the limiter object. */
export type DegradedReason = "timeout" | "error";

/** A decision and where it came from. */
export type CheckResult =
  (Decision & { source: "limiter" | "deny-cache" | "lease" }) | { source: "degraded"; reason: DegradedReason; error: unknown };

/** Options of {@link checkRateLimit}. */
export interface CheckOptions {
  cost?: number;
  denyCache?: DenyCache;
  /** The isolate's leases, used for policies with `reserve` (without it every request asks the object). */
  leases?: LeaseCache;
  /**
   * Give up on the limiter object after this long (default 1,000 ms); one budget for every shard asked. A budget of 0
   * gives up at once without asking: the request takes the fail mode (a race against a zero-delay timer would be
   * decided by scheduling, not by the limiter).
   */
  timeoutMs?: number;
  /** Picks the shard a sharded key asks first, a number in [0, 1) (default `Math.random`; injectable for tests). */
  random?: () => number;
  /**
   * Keeps work alive past the response (the request's `ctx.waitUntil`). With it, a lease running low is
   * refilled in the background so requests find units instead of asking the object; without it, only a
   * request that finds no units asks.
   */
  waitUntil?: (promise: Promise<unknown>) => void;
  /**
   * Take one turn of the event loop after a decision (default true; see `nextTurn`). A caller whose request took one
   * already, as every request on the service kit does before its route, passes false: a second turn costs a timer and
   * gains nothing.
   */
  turn?: boolean;
}

function timedOut(timeoutMs: number): CheckResult {
  return { source: "degraded", reason: "timeout", error: new Error(`rate limiter did not answer within ${timeoutMs} ms`) };
}

/** Policies serialised once per isolate: a middleware checks the same policy object on every request. */
const policyKeys = new WeakMap<Policy, string>();

/** The deny-cache and lease entry of a (key, policy) pair: a refusal under one policy says nothing about another. */
function cacheKey(key: string, policy: Policy): string {
  let serialised = policyKeys.get(policy);
  if (serialised === undefined) {
    serialised = JSON.stringify(policy);
    policyKeys.set(policy, serialised);
  }
  return `${key}\u0000${serialised}`;
}

/** One shard a request asks: its object's name, its share of the policy, and its deny-cache entry. */
interface Probe {
  name: string;
  policy: Policy;
  cacheEntry: string;
  /** How long the deny cache still knows the shard to be refused (0: ask it). */
  refusedFor: number;
}

/** The refusal the deny cache stands in for. */
function cachedRefusal(probe: Probe): Decision {
  return { allowed: false, limit: probe.policy.limit, remaining: 0, resetMs: probe.refusedFor, retryAfterMs: probe.refusedFor };
}

/** The units a policy leases at once, or undefined when it takes no leases (sliding log never does). */
function reserveOf(policy: Policy): number | undefined {
  return policy.algorithm === "sliding-log" ? undefined : policy.reserve;
}

/** The first shard's decision when the isolate's lease on it can admit the request: no round trip. */
function fromLease(probe: Probe | undefined, { leases, cost = 1 }: CheckOptions): Decision | undefined {
  if (!leases || !probe || reserveOf(probe.policy) === undefined) return;
  const local = leases.take(probe.cacheEntry, cost);
  return local?.allowed ? local : undefined;
}

/**
 * Starts refilling the isolate's lease on a shard once it holds at most half of `reserve`, unless a lease
 * request is already in flight: the refill's units join what is left, so a busy isolate keeps finding units.
 */
function refill(
  namespace: DurableObjectNamespace<RateLimiter>,
  probe: Probe,
  reserve: number,
  leases: LeaseCache,
  waitUntil: CheckOptions["waitUntil"],
) {
  const key = probe.cacheEntry;
  if (!waitUntil || leases.inFlight(key) || leases.units(key) > reserve / 2) return;
  const askedAt = leases.now();
  const stub = namespace.get(namespace.idFromName(probe.name));
  // Asked as a request of cost 1 so a spent quota answers with a refusal, which the cache then remembers;
  // settled with cost 0 because no request spends a unit of it.
  const request = leases.track(key, stub.reserve(probe.policy, reserve, 1)).then(
    (lease) => void leases.settle(key, lease, 0, askedAt),
    () => undefined, // a failed refill leaves the next request short of units, and that request asks itself
  );
  waitUntil(request);
}

/**
 * One shard's decision for a policy with `reserve`: from the isolate's lease when it has the units (or from the
 * refusal the object last gave); otherwise by asking the object for a new lease, or, while another request of
 * the isolate is already asking for one, for this request's decision alone. Requests wait on each other only
 * when the quota is nearly spent (a refused request waits for the lease in flight, which may hold the last
 * units): under load a request that waits for another's answer pays for every turn the busy event loop takes.
 */
async function leasedDecision(stub: DurableObjectStub<RateLimiter>, probe: Probe, reserve: number, cost: number, leases: LeaseCache) {
  const key = probe.cacheEntry;
  const local = leases.take(key, cost);
  if (local) return local;
  const asking = leases.inFlight(key);
  if (asking) {
    const own = await stub.check(probe.policy, cost);
    if (own.allowed) return own;
    // Refused: the quota's last units may be the ones the lease request in flight is bringing to this isolate.
    await asking.catch(() => undefined);
    return leases.take(key, cost) ?? own;
  }
  const askedAt = leases.now();
  const lease = await leases.track(key, stub.reserve(probe.policy, reserve, cost));
  return leases.settle(key, lease, cost, askedAt);
}

/**
 * Asks the shards in order until one admits the request; a shard the deny cache knows to be refused counts as
 * a refusal without a round trip, and a shard that refuses is remembered until its retry time.
 */
async function askShards(
  namespace: DurableObjectNamespace<RateLimiter>,
  probes: readonly Probe[],
  cost: number,
  { denyCache, leases }: Pick<CheckOptions, "denyCache" | "leases">,
): Promise<Decision[]> {
  const decisions: Decision[] = [];
  for (const probe of probes) {
    const asked = probe.refusedFor === 0;
    const reserve = reserveOf(probe.policy);
    const stub = () => namespace.get(namespace.idFromName(probe.name));
    const decision = !asked
      ? cachedRefusal(probe)
      : reserve !== undefined && leases !== undefined
        ? await leasedDecision(stub(), probe, reserve, cost, leases)
        : await stub().check(probe.policy, cost);
    if (asked && !decision.allowed && decision.retryAfterMs > 0) denyCache?.deny(probe.cacheEntry, Date.now() + decision.retryAfterMs);
    decisions.push(decision);
    if (decision.allowed) break;
  }
  return decisions;
}

/**
 * Asks the key's `RateLimiter` object for a decision, answering from the isolate's deny cache when the
 * key is known to be refused and from the isolate's lease when the policy has `reserve` (see `leases.ts`),
 * and reporting a typed degraded result instead of throwing when the object cannot answer in time. A sharded policy asks one shard at random and, when it refuses, the next one
 * before refusing; the combined decision's `remaining` is then an estimate (see `sharding.ts`). The deny
 * cache remembers refusals per shard, so a sharded key is answered from it only when both shards the
 * request would ask are known to be refused, until the earlier of their retry times; the key's other
 * shards stay reachable.
 * @example const r = await checkRateLimit(env.RATE_LIMITER, "user:42", { algorithm: "fixed-window", limit: 10, windowMs: 1000 });
 */
export async function checkRateLimit(
  namespace: DurableObjectNamespace<RateLimiter>,
  key: string,
  policy: Policy,
  options: CheckOptions = {},
): Promise<CheckResult> {
  const timeoutMs = options.timeoutMs ?? 1000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const probes = probeOrder(shardCount(policy), options.random).map((index): Probe => {
      const name = shardKey(key, index);
      const cacheEntry = cacheKey(name, policy);
      return { name, policy: shardPolicy(policy, index), cacheEntry, refusedFor: options.denyCache?.retryAfterMs(cacheEntry) ?? 0 };
    });
    // Units the isolate holds come first: the object may refuse others while this isolate still holds units.
    const leased = fromLease(probes[0], options);
    if (leased) {
      refill(namespace, probes[0]!, reserveOf(probes[0]!.policy)!, options.leases!, options.waitUntil);
      // Every decision takes one turn of the event loop (see `nextTurn`), also where the rate limiter is used outside
      // the kit: through the gateway under wrk, requests answered without storage I/O (from a lease, or by an object
      // whose stored headroom covered them) had p99s of 1–2.7 s without it, all stalling together, against about
      // 0.1 s with it. A microtask did not help; the same turn inside the object cost 40 % of the throughput.
      if (options.turn ?? true) await nextTurn();
      return { ...combineDecisions(policy, [leased]), source: "lease" };
    }
    if (probes.every((p) => p.refusedFor > 0)) return { ...combineDecisions(policy, probes.map(cachedRefusal)), source: "deny-cache" };
    if (timeoutMs <= 0) return timedOut(timeoutMs);
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    const decisions = await Promise.race([askShards(namespace, probes, options.cost ?? 1, options), timeout]);
    if (decisions === "timeout") return timedOut(timeoutMs);
    if (options.turn ?? true) await nextTurn();
    return { ...combineDecisions(policy, decisions), source: "limiter" };
  } catch (error) {
    return { source: "degraded", reason: "error", error };
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}
