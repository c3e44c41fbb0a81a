import { credentialsOf, HttpProblem, hasScope, verifyCaller, type AuthContext } from "@foundation/service-kit";
import type { MiddlewareHandler } from "hono";
import { z } from "zod";
import type { GatewayEnv } from "./env.ts";

const METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] as const;

/**
 * Who may call the routes under a path prefix: anyone (`public`), any valid token or API key (`token`),
 * or one holding one of `scopes` (admin holds them all). The first matching rule decides.
 */
export const RouteAuthRule = z
  .object({
    path: z.string().startsWith("/api/").max(256),
    methods: z.array(z.enum(METHODS)).min(1).optional(),
    auth: z.union([z.enum(["public", "token"]), z.object({ scopes: z.array(z.string().regex(/^[a-z0-9:._-]{1,64}$/)).min(1) }).strict()]),
  })
  .strict();
/** One rule of `ROUTE_AUTH`. */
export type RouteAuthRule = z.infer<typeof RouteAuthRule>;

/** What a request to a service needs when no rule matches: a valid token. */
export const DEFAULT_ROUTE_AUTH: RouteAuthRule["auth"] = "token";

const parsed = new Map<string, RouteAuthRule[]>();

/**
 * Parses `ROUTE_AUTH` (a JSON list of rules), throwing a readable error on a bad config so a deploy with a
 * broken rule fails loudly instead of opening a route.
 */
export function parseRouteAuth(json: string | undefined): RouteAuthRule[] {
  if (!json) return [];
  let rules = parsed.get(json);
  if (!rules) {
    let raw: unknown;
    try {
      raw = JSON.parse(json);
    } catch (err) {
      throw new Error(`ROUTE_AUTH is not valid JSON: ${(err as Error).message}`, { cause: err });
    }
    const result = z.array(RouteAuthRule).max(64).safeParse(raw);
    if (!result.success) throw new Error(`ROUTE_AUTH is invalid: ${z.prettifyError(result.error)}`);
    rules = result.data;
    parsed.set(json, rules);
  }
  return rules;
}

/** The access rule for a request: the first rule whose prefix and methods match, else {@link DEFAULT_ROUTE_AUTH}. */
export function accessFor(rules: readonly RouteAuthRule[], method: string, path: string): RouteAuthRule["auth"] {
  const rule = rules.find((r) => path.startsWith(r.path) && (!r.methods || (r.methods as readonly string[]).includes(method)));
  return rule?.auth ?? DEFAULT_ROUTE_AUTH;
}

/**
 * Per-route authentication for the services behind the gateway (`ROUTE_AUTH`): the handler and the service
 * never see a request that does not satisfy its route's rule (401 without a valid token, 403 without the
 * scope). The verified caller is on `c.var.auth` (reused when the quota middleware already verified it).
 * Foundation's own routes under `/api/foundation` check their own scopes.
 */
export const routeAuth = (): MiddlewareHandler<GatewayEnv> =>
  async function routeAuth(c, next) {
    if (c.req.path.startsWith("/api/foundation/")) return next();
    const access = accessFor(parseRouteAuth(c.env.ROUTE_AUTH), c.req.method, c.req.path);
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
