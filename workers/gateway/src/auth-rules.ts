import { underPrefix } from "@foundation/core";
import { z } from "zod";

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
    /**
     * Pass the caller's own `Authorization`, `X-Api-Key` and cookies on to the service (a service that verifies
     * them itself). Default false: the service gets the gateway's identity assertion instead.
     */
    forwardCredentials: z.boolean().default(false),
  })
  .strict();
/** One rule of `ROUTE_AUTH`. */
export type RouteAuthRule = z.infer<typeof RouteAuthRule>;

/** What a request to a service needs when no rule matches: a valid token. */
export const DEFAULT_ROUTE_AUTH: RouteAuthRule["auth"] = "token";

/**
 * Parses `ROUTE_AUTH` (a JSON list of rules), throwing a readable error on a bad config so a deploy with a
 * broken rule fails loudly instead of opening a route.
 */
export function parseRouteAuth(json: string | undefined): RouteAuthRule[] {
  if (!json?.trim()) return [];
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (err) {
    throw new Error(`ROUTE_AUTH is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  const result = z.array(RouteAuthRule).max(64).safeParse(raw);
  if (!result.success) throw new Error(`ROUTE_AUTH is invalid: ${z.prettifyError(result.error)}`);
  return result.data;
}

/** What a request's route allows: who may call it, and whether the caller's credentials go to the service. */
export interface RouteAccess {
  auth: RouteAuthRule["auth"];
  forwardCredentials: boolean;
}

/**
 * The rule for a request: the first rule whose prefix (at a segment boundary) and methods match, else a valid token
 * with nothing forwarded.
 * @example ruleFor(rules, "GET", "/api/example/hello").auth // "public"
 */
export function ruleFor(rules: readonly RouteAuthRule[], method: string, path: string): RouteAccess {
  const rule = rules.find((r) => underPrefix(path, r.path) && (!r.methods || (r.methods as readonly string[]).includes(method)));
  return { auth: rule?.auth ?? DEFAULT_ROUTE_AUTH, forwardCredentials: rule?.forwardCredentials ?? false };
}
