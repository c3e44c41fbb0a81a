/**
 * `@foundation/rate-limiter/config`: the route quotas a worker reads from its `[vars]`, as a zod field a worker's
 * config schema includes (pure: importable by `npm run check` in Node).
 */
import { parsedVar } from "@foundation/core";
import { z } from "zod";
import { parseRoutePolicies, type RoutePolicy } from "./route-policies.ts";

/** `RATE_LIMIT_POLICIES`: a JSON list of quotas bound to path prefixes and methods; unset or empty means none. */
export const RateLimitVars = z.object({
  RATE_LIMIT_POLICIES: parsedVar((json): RoutePolicy[] => (json?.trim() ? parseRoutePolicies(json) : [])),
});
