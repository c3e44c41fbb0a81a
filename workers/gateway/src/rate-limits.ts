import {
  clientIdentity,
  enforceLimit,
  matchingPolicies,
  prepareLimit,
  type PreparedLimit,
  type RoutePolicy,
} from "@foundation/rate-limiter";
import { writableHeaders } from "@foundation/core";
import { credentialsOf, HttpProblem, verifyCaller, type MetricsRegistry } from "@foundation/service-kit";
import type { MiddlewareHandler } from "hono";
import { configFrom } from "./config.ts";
import type { GatewayEnv } from "./env.ts";
import { apiPathOf } from "./request-path.ts";

interface Prepared {
  route: RoutePolicy;
  limit: PreparedLimit<Env>;
}

/** Prepared quotas (with their deny caches and leases) per parsed configuration: once per isolate. */
const preparedByConfig = new WeakMap<readonly RoutePolicy[], Prepared[]>();

function prepare(policies: readonly RoutePolicy[], metrics: MetricsRegistry): Prepared[] {
  let prepared = preparedByConfig.get(policies);
  if (!prepared) {
    prepared = policies.map((route) => ({
      route,
      limit: prepareLimit<Env>({
        name: route.name,
        policy: route.policy,
        failMode: route.failMode,
        cost: route.cost,
        timeoutMs: route.timeoutMs,
        key: () => "",
        limiter: (env) => env.RATE_LIMITER,
        metrics,
      }),
    }));
    preparedByConfig.set(policies, prepared);
  }
  return prepared;
}

/**
 * The gateway's declarative quotas (`RATE_LIMIT_POLICIES` in wrangler.toml): every policy matching the
 * request's path and method takes one unit from the client's quota, the client being the verified token
 * or API key subject (kept on `c.var.auth` for the auth middleware) or else the IP. Allowed responses carry every quota's RateLimit headers.
 */
export const routeRateLimits = (metrics: MetricsRegistry): MiddlewareHandler<GatewayEnv> =>
  async function routeRateLimits(c, next) {
    const policies = configFrom(c.env).rateLimits;
    if (policies.length === 0) return next();
    // Service paths are matched decoded, as route rules are; the gateway's own pages by their path.
    const path = c.req.path.startsWith("/api/") ? apiPathOf(c).decoded : c.req.path;
    const matched = prepare(policies, metrics).filter((p) => matchingPolicies([p.route], c.req.method, path).length > 0);
    if (matched.length === 0) return next();
    const credentials = credentialsOf(c.req);
    const subject =
      credentials.authorization !== undefined || credentials.apiKey !== undefined
        ? await verifyCaller(credentials, c.env).then(
            (a) => {
              c.set("auth", a);
              return a.subject;
            },
            // Invalid credentials count as the client's address; but a key store that does not answer (503) or a
            // client over its key lookups (429) is answered now, not after a second wait further down.
            (err: unknown) => {
              if (err instanceof HttpProblem && (err.status === 503 || err.status === 429)) throw err;
              return undefined;
            },
          )
        : undefined;
    const client = clientIdentity(subject, c.req.header("cf-connecting-ip"));
    const vars = { log: c.get("log"), defer: c.get("defer"), turnTaken: c.get("turnTaken") };
    const headers = await Promise.all(matched.map((p) => enforceLimit(p.limit, c.env, client, vars)));
    await next();
    const answer = writableHeaders(c);
    for (const name of ["RateLimit-Policy", "RateLimit"]) {
      const values = headers.map((h) => h[name]).filter((v): v is string => v !== undefined);
      if (values.length > 0) answer.set(name, values.join(", "));
    }
  };
