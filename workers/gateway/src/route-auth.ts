import { credentialsOf, HttpProblem, hasScope, verifyCaller, type AuthContext } from "@foundation/service-kit";
import type { MiddlewareHandler } from "hono";
import { accessFor } from "./auth-rules.ts";
import { configFrom } from "./config.ts";
import type { GatewayEnv } from "./env.ts";
import { apiPathOf } from "./request-path.ts";

/**
 * Per-route authentication for the services behind the gateway (`ROUTE_AUTH`): the handler and the service
 * never see a request that does not satisfy its route's rule (401 without a valid token, 403 without the
 * scope). The verified caller is on `c.var.auth` (reused when the quota middleware already verified it).
 * Foundation's own routes under `/api/foundation` check their own scopes.
 */
export const routeAuth = (): MiddlewareHandler<GatewayEnv> =>
  async function routeAuth(c, next) {
    const path = apiPathOf(c);
    if (path.service === "foundation") return next();
    const access = accessFor(configFrom(c.env).routeAuth, c.req.method, path.decoded);
    if (access === "public") return next();
    const verified: AuthContext | undefined = c.get("auth");
    const auth = verified ?? (await verifyCaller(credentialsOf(c.req), c.env));
    if (typeof access === "object" && !hasScope(auth, access.scopes)) {
      throw new HttpProblem(403, {
        slug: "insufficient-scope",
        detail: `This route needs one of the scopes: ${access.scopes.join(", ")}.`,
      });
    }
    c.set("auth", auth);
    await next();
  };
