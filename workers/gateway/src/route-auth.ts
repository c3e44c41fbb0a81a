import { HttpProblem } from "@foundation/core";
import { credentialsOf, hasScope, verifyCaller, type AuthContext } from "@foundation/service-kit";
import type { MiddlewareHandler } from "hono";
import { ruleFor } from "./auth-rules.ts";
import { configFrom } from "./config.ts";
import type { GatewayEnv } from "./env.ts";
import { apiPathOf } from "./request-path.ts";

/** Refuses a caller whose token is restricted to other services (an `aud` of `<audience>:<service>`). */
function checkAudience(auth: AuthContext, service: string): void {
  if (auth.services && !auth.services.has(service)) {
    throw new HttpProblem(403, { slug: "wrong-audience", detail: `This token is not for the service "${service}".` });
  }
}

/**
 * Per-route authentication for the services behind the gateway (`ROUTE_AUTH`): the handler and the service
 * never see a request that does not satisfy its route's rule (401 without a valid token, 403 without the
 * scope, or with a token restricted to other services). The verified caller is on `c.var.auth` (reused when the
 * quota middleware already verified it) for the proxy to assert to the service. Foundation's own routes under
 * `/api/foundation` check their own scopes; a restricted token reaches them only when it names `foundation`.
 */
export const routeAuth = (): MiddlewareHandler<GatewayEnv> =>
  async function routeAuth(c, next) {
    const path = apiPathOf(c);
    const credentials = credentialsOf(c.req);
    if (path.service === "foundation") {
      const verified: AuthContext | undefined = c.get("auth");
      const auth = verified ?? (credentials.authorization || credentials.apiKey ? await verifyCaller(credentials, c.env) : undefined);
      if (auth) {
        checkAudience(auth, "foundation");
        c.set("auth", auth);
      }
      return next();
    }
    const access = ruleFor(configFrom(c.env).routeAuth, c.req.method, path.decoded);
    c.set("forwardCredentials", access.forwardCredentials);
    if (access.auth === "public") return next();
    const verified: AuthContext | undefined = c.get("auth");
    const auth = verified ?? (await verifyCaller(credentials, c.env));
    checkAudience(auth, path.service);
    if (typeof access.auth === "object" && !hasScope(auth, access.auth.scopes)) {
      throw new HttpProblem(403, {
        slug: "insufficient-scope",
        detail: `This route needs one of the scopes: ${access.auth.scopes.join(", ")}.`,
      });
    }
    c.set("auth", auth);
    await next();
  };
