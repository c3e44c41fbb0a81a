import { HttpProblem } from "@foundation/core";
import type { Context } from "hono";
import type { GatewayEnv } from "./env.ts";
import { isRefusal, parseApiPath, type ApiPath } from "./routing/api-path.ts";

/**
 * The request's `/api/:service/*` path, parsed from the raw URL once per request and kept on the context, so route
 * rules, quotas and the proxy all decide on the same service and path. A path that cannot be routed is a 400 or a
 * 404 here, before any of them runs.
 * @example const { service, rest } = apiPathOf(c);
 */
export function apiPathOf(c: Context<GatewayEnv>): ApiPath {
  const known = c.get("apiPath") as ApiPath | undefined;
  if (known) return known;
  const parsed = parseApiPath(new URL(c.req.url).pathname);
  if (isRefusal(parsed)) {
    throw new HttpProblem(parsed.status, { slug: parsed.status === 404 ? "unknown-service" : "malformed-path", detail: parsed.detail });
  }
  c.set("apiPath", parsed);
  return parsed;
}
