import { errorFields, HttpProblem, writableHeaders, type Counter, type Logger, type MetricsRegistry } from "@foundation/core";
import type { Context, MiddlewareHandler } from "hono";
import { checkRateLimit, type CheckResult } from "./client.ts";
import { DenyCache } from "./deny-cache.ts";
import type { RateLimiter } from "./durable-object.ts";
import { rateLimitHeaders } from "./headers.ts";
import { LeaseCache } from "./leases.ts";
import { Policy } from "./policy.ts";
import { maxCost } from "./sharding.ts";

/** What the middleware uses from the request context when the service provides it (the service kit does). */
export interface LimitVariables {
  /** Where a degraded check is logged. */
  log: Logger;
  /** Runs work after the response (`waitUntil`): lease refills. */
  defer: (task: Promise<unknown>) => void;
  /** The request took its turn of the event loop already (the service kit's requests do), so the decision takes none. */
  turnTaken?: boolean;
}

/** What happens when the limiter cannot answer: `open` lets the request through, `closed` refuses it with 503. */
export type FailMode = "open" | "closed";

/** Options of {@link rateLimit}. */
export interface RateLimitOptions<E extends object> {
  /** Names the quota in metrics and in the `RateLimit-Policy` header. */
  name: string;
  policy: Policy;
  /** The client identity the quota applies to (JWT subject, API key, IP...). */
  key: (c: Context<{ Bindings: E; Variables: Partial<LimitVariables> }>) => string;
  limiter: (env: E) => DurableObjectNamespace<RateLimiter>;
  /** Declared behaviour when the limiter cannot answer; fail closed on auth and write routes. */
  failMode: FailMode;
  cost?: number;
  timeoutMs?: number;
  metrics?: MetricsRegistry;
  /** Shared deny cache; default: one per middleware instance (per isolate). */
  denyCache?: DenyCache;
  /** Leases for a policy with `reserve`; default: one cache per middleware instance (per isolate). */
  leases?: LeaseCache;
}

/** A limiter prepared once per isolate: parsed policy, deny cache and metrics. */
export interface PreparedLimit<E extends object> {
  options: RateLimitOptions<E>;
  policy: Policy;
  denyCache: DenyCache;
  leases: LeaseCache;
  decisions?: Counter;
  degraded?: Counter;
}

/**
 * Validates options and creates the per-isolate state of one quota; throws when the cost could never be
 * admitted (above the limit, or above one shard's share of it), which would otherwise degrade every request.
 */
export function prepareLimit<E extends object>(options: RateLimitOptions<E>): PreparedLimit<E> {
  const policy = Policy.parse(options.policy);
  const cost = options.cost ?? 1;
  if (cost > maxCost(policy))
    throw new RangeError(`quota "${options.name}": cost ${cost} exceeds ${maxCost(policy)}, the most one shard admits`);
  return {
    options,
    policy,
    denyCache: options.denyCache ?? new DenyCache(),
    leases: options.leases ?? new LeaseCache(),
    decisions: options.metrics?.counter("foundation_ratelimit_decisions_total", "Rate-limit decisions by quota and outcome"),
    degraded: options.metrics?.counter(
      "foundation_ratelimit_degraded_total",
      "Rate-limit checks the limiter could not answer, by reason and fail mode",
    ),
  };
}

/**
 * Takes one request from `client`'s quota: resolves to the RateLimit headers to add to the response, or
 * throws a 429 (refused) or 503 (limiter down and failing closed) problem. Failing open resolves to no headers.
 */
export async function enforceLimit<E extends object>(
  limit: PreparedLimit<E>,
  env: E,
  client: string,
  { log, defer, turnTaken }: Partial<LimitVariables> = {},
): Promise<Record<string, string>> {
  const { options, policy } = limit;
  const result: CheckResult = await checkRateLimit(options.limiter(env), `${options.name}:${client}`, policy, {
    cost: options.cost,
    timeoutMs: options.timeoutMs,
    denyCache: limit.denyCache,
    leases: limit.leases,
    waitUntil: defer,
    turn: !turnTaken,
  });
  if (result.source === "degraded") {
    limit.degraded?.inc({ quota: options.name, reason: result.reason, mode: options.failMode });
    log?.warn("rate limiter unavailable", {
      quota: options.name,
      reason: result.reason,
      failMode: options.failMode,
      ...errorFields(result.error),
    });
    if (options.failMode === "closed") {
      throw new HttpProblem(503, {
        slug: "rate-limiter-unavailable",
        detail: "The rate limiter could not answer; try again shortly.",
        headers: { "Retry-After": "1" },
      });
    }
    return {};
  }
  limit.decisions?.inc({
    quota: options.name,
    outcome: result.allowed ? "allowed" : result.source === "deny-cache" ? "denied_cached" : "denied",
  });
  const headers = rateLimitHeaders(options.name, policy, result);
  if (!result.allowed) {
    throw new HttpProblem(429, {
      slug: "rate-limited",
      detail: `Quota "${options.name}" exhausted; retry after ${headers["Retry-After"]} s.`,
      headers,
    });
  }
  return headers;
}

/**
 * Hono middleware enforcing a rate-limit policy per client key. Allowed responses carry the IETF
 * `RateLimit-Policy`/`RateLimit` headers; refusals are 429 problem+json with `Retry-After`. When the limiter
 * cannot answer, the declared fail mode applies and the reason is logged and counted.
 * @example app.use("/api/*", rateLimit({ name: "api", policy, key: (c) => c.req.header("cf-connecting-ip") ?? "anon", limiter: (e) => e.RATE_LIMITER, failMode: "open" }));
 */
export const rateLimit = <E extends object>(
  options: RateLimitOptions<E>,
): MiddlewareHandler<{ Bindings: E; Variables: Partial<LimitVariables> }> => {
  const limit = prepareLimit(options);
  return async function rateLimit(c, next) {
    const headers = await enforceLimit(limit, c.env, options.key(c), c.var);
    await next();
    const answer = writableHeaders(c);
    for (const [k, v] of Object.entries(headers)) answer.set(k, v);
  };
};
