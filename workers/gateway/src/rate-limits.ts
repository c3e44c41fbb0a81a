import {
  clientIdentity,
  enforceLimit,
  matchingPolicies,
  parseRoutePolicies,
  prepareLimit,
  type PreparedLimit,
  type RoutePolicy,
} from "@foundation/rate-limiter";
import { credentialsOf, verifyCaller, type MetricsRegistry } from "@foundation/service-kit";
import type { MiddlewareHandler } from "hono";
import type { GatewayEnv } from "./env.ts";

interface Prepared {
  route: RoutePolicy;
  limit: PreparedLimit<Env>;
}

const preparedByConfig = new Map<string, Prepared[]>();

function prepare(config: string, metrics: MetricsRegistry): Prepared[] {
  let prepared = preparedByConfig.get(config);
  if (!prepared) {
    prepared = parseRoutePolicies(config).map((route) => ({
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
    preparedByConfig.set(config, prepared);
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
    const config = c.env.RATE_LIMIT_POLICIES;
    if (!config) return next();
    const matched = prepare(config, metrics).filter((p) => matchingPolicies([p.route], c.req.method, c.req.path).length > 0);
    if (matched.length === 0) return next();
    const credentials = credentialsOf(c.req);
    const subject =
      credentials.authorization !== undefined || credentials.apiKey !== undefined
        ? await verifyCaller(credentials, c.env).then(
            (a) => {
              c.set("auth", a);
              return a.subject;
            },
            () => undefined,
          )
        : undefined;
    const client = clientIdentity(subject, c.req.header("cf-connecting-ip"));
    const headers = await Promise.all(matched.map((p) => enforceLimit(p.limit, c.env, client, c.var)));
    await next();
    for (const name of ["RateLimit-Policy", "RateLimit"]) {
      const values = headers.map((h) => h[name]).filter((v): v is string => v !== undefined);
      if (values.length > 0) c.res.headers.set(name, values.join(", "));
    }
  };
