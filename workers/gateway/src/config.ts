import { configReader, intVar, optionalVar, parsedVar } from "@foundation/core";
import { StreamVars, streamSettingsOf } from "@foundation/event-bus/config";
import { RateLimitVars } from "@foundation/rate-limiter/config";
import { serviceConfigOf, ServiceVars } from "@foundation/service-kit/config";
import { parseRouteAuth } from "./auth-rules.ts";
import { parseTimeouts } from "./routing/timeouts.ts";
import { DEFAULT_HEALTH_CHECK_RETENTION_DAYS, LONGEST_WINDOW_MS } from "./uptime/uptime.ts";

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The gateway's `[vars]`: the service kit 's, the event bus's stream settings, the route quotas, who may call
 * which route, the upstream timeouts and how long uptime probes are kept. `npm run check` parses every
 * environment's vars with this schema.
 */
export const Vars = ServiceVars.extend(StreamVars.shape)
  .extend(RateLimitVars.shape)
  .extend({
    ROUTE_AUTH: parsedVar(parseRouteAuth),
    UPSTREAM_TIMEOUT_MS: parsedVar((text) => parseTimeouts({ UPSTREAM_TIMEOUT_MS: text }).defaultMs),
    UPSTREAM_TIMEOUTS: parsedVar((text) => parseTimeouts({ UPSTREAM_TIMEOUTS: text }).perService),
    /** Days of `health_checks` history; at least the longest uptime window, which reads it. */
    HEALTH_CHECK_RETENTION_DAYS: optionalVar(intVar(LONGEST_WINDOW_MS / DAY_MS, 36_500)),
  });

/**
 * The gateway's configuration of an env, parsed once per env object; throws a `ConfigError` naming every
 * variable at fault.
 * @example const { routeAuth } = configFrom(c.env);
 */
export const configFrom = configReader(Vars, (vars) => ({
  ...serviceConfigOf(vars),
  routeAuth: vars.ROUTE_AUTH,
  rateLimits: vars.RATE_LIMIT_POLICIES,
  streams: streamSettingsOf(vars),
  timeouts: { defaultMs: vars.UPSTREAM_TIMEOUT_MS, perService: vars.UPSTREAM_TIMEOUTS },
  healthCheckRetentionDays: vars.HEALTH_CHECK_RETENTION_DAYS ?? DEFAULT_HEALTH_CHECK_RETENTION_DAYS,
}));

/** The gateway's configuration. */
export type GatewayConfig = ReturnType<typeof configFrom>;
