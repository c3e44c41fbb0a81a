import type { Decision } from "./algorithms/index.ts";
import type { DenyCache } from "./deny-cache.ts";
import type { RateLimiter } from "./durable-object.ts";
import type { Policy } from "./policy.ts";

/** Why a decision did not come from the limiter object. */
export type DegradedReason = "timeout" | "error";

/** A decision and where it came from. */
export type CheckResult =
  (Decision & { source: "limiter" | "deny-cache" }) | { source: "degraded"; reason: DegradedReason; error: unknown };

/** Options of {@link checkRateLimit}. */
export interface CheckOptions {
  cost?: number;
  denyCache?: DenyCache;
  /** Give up on the limiter object after this long (default 1,000 ms). */
  timeoutMs?: number;
}

/** The deny-cache entry of a (key, policy) pair: a refusal under one policy says nothing about another. */
function cacheKey(key: string, policy: Policy): string {
  return `${key}\u0000${JSON.stringify(policy)}`;
}

/**
 * Asks the key's `RateLimiter` object for a decision, answering from the isolate's deny cache when the
 * key is known to be refused, and reporting a typed degraded result instead of throwing when the object
 * cannot answer in time.
 * @example const r = await checkRateLimit(env.RATE_LIMITER, "user:42", { algorithm: "fixed-window", limit: 10, windowMs: 1000 });
 */
export async function checkRateLimit(
  namespace: DurableObjectNamespace<RateLimiter>,
  key: string,
  policy: Policy,
  options: CheckOptions = {},
): Promise<CheckResult> {
  const cost = options.cost ?? 1;
  const cached = options.denyCache?.retryAfterMs(cacheKey(key, policy)) ?? 0;
  if (cached > 0) {
    return { source: "deny-cache", allowed: false, limit: policy.limit, remaining: 0, resetMs: cached, retryAfterMs: cached };
  }
  const timeoutMs = options.timeoutMs ?? 1000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const stub = namespace.get(namespace.idFromName(key));
    const timeout = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeoutMs);
    });
    const decision = await Promise.race([stub.check(policy, cost), timeout]);
    if (decision === "timeout")
      return { source: "degraded", reason: "timeout", error: new Error(`rate limiter did not answer within ${timeoutMs} ms`) };
    if (!decision.allowed && decision.retryAfterMs > 0) options.denyCache?.deny(cacheKey(key, policy), Date.now() + decision.retryAfterMs);
    return { ...decision, source: "limiter" };
  } catch (error) {
    return { source: "degraded", reason: "error", error };
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}
