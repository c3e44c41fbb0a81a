import { errors, jwtVerify, type JWTPayload } from "jose";
import type { MiddlewareHandler } from "hono";
import { HttpProblem } from "../errors.ts";

/** Bindings that configure token verification. */
export interface AuthEnv {
  /** HS256 secret shared with the token issuer (local: `.dev.vars`; production: `wrangler secret put JWT_SECRET`). */
  JWT_SECRET?: string;
  /** Required `iss` claim; default `foundation-local`. */
  JWT_ISSUER?: string;
  /** Required `aud` claim; default `foundation`. */
  JWT_AUDIENCE?: string;
}

/** Who is calling, as proven by a verified token. */
export interface AuthContext {
  subject: string;
  scopes: ReadonlySet<string>;
  claims: JWTPayload;
}

/** Defaults of the local stack; `npm run token` issues tokens with these. */
export const DEFAULT_ISSUER = "foundation-local";
export const DEFAULT_AUDIENCE = "foundation";

/** The scope that grants every other scope. */
export const ADMIN_SCOPE = "admin";

const encoder = new TextEncoder();

function unauthorized(detail: string): HttpProblem {
  return new HttpProblem(401, { slug: "unauthorized", detail, headers: { "WWW-Authenticate": 'Bearer realm="foundation"' } });
}

/** Scopes from the OAuth `scope` string or an `scp` array. */
export function scopesOf(claims: JWTPayload): Set<string> {
  const scope = typeof claims.scope === "string" ? claims.scope.split(" ") : [];
  const scp = Array.isArray(claims.scp) ? claims.scp.filter((s): s is string => typeof s === "string") : [];
  return new Set([...scope, ...scp].filter(Boolean));
}

/**
 * Verifies a bearer token: HS256 only (so `alg: none` and key-confusion tokens fail), a numeric `exp`
 * in the future, the configured issuer and audience, and a subject. Tokens are only read from the
 * `Authorization` header, never from the URL, where they would end up in logs.
 */
export async function verifyBearer(authorization: string | undefined, env: AuthEnv, now: () => number = Date.now): Promise<AuthContext> {
  if (!env.JWT_SECRET) throw new HttpProblem(503, { slug: "auth-not-configured", detail: "Token verification is not configured." });
  const match = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/.exec(authorization ?? "");
  if (!match?.[1]) throw unauthorized("A bearer token is required in the Authorization header.");
  try {
    const { payload } = await jwtVerify(match[1], encoder.encode(env.JWT_SECRET), {
      algorithms: ["HS256"],
      issuer: env.JWT_ISSUER ?? DEFAULT_ISSUER,
      audience: env.JWT_AUDIENCE ?? DEFAULT_AUDIENCE,
      requiredClaims: ["exp", "sub"],
      currentDate: new Date(now()),
    });
    if (typeof payload.sub !== "string" || payload.sub === "") throw unauthorized("The token has no subject.");
    return { subject: payload.sub, scopes: scopesOf(payload), claims: payload };
  } catch (err) {
    if (err instanceof HttpProblem) throw err;
    const detail = err instanceof errors.JWTExpired ? "The token has expired." : "The token is invalid.";
    throw unauthorized(detail);
  }
}

/** Whether `auth` holds at least one of `anyOf` (admin holds them all). */
export function hasScope(auth: AuthContext, anyOf: readonly string[]): boolean {
  return auth.scopes.has(ADMIN_SCOPE) || anyOf.some((s) => auth.scopes.has(s));
}

/**
 * Requires a valid bearer token holding one of `anyOf` scopes (any valid token when empty); the handler
 * never runs otherwise. Puts the caller on `c.var.auth`.
 * @example app.post("/api/foundation/events/:stream", requireAuth({ anyOf: ["publish"] }), handler);
 */
export const requireAuth = (
  options: { anyOf?: readonly string[] } = {},
): MiddlewareHandler<{ Bindings: AuthEnv; Variables: { auth: AuthContext } }> => {
  const anyOf = options.anyOf ?? [];
  return async function requireAuth(c, next) {
    const auth = await verifyBearer(c.req.header("authorization"), c.env);
    if (anyOf.length > 0 && !hasScope(auth, anyOf)) {
      throw new HttpProblem(403, { slug: "insufficient-scope", detail: `This operation needs one of the scopes: ${anyOf.join(", ")}.` });
    }
    c.set("auth", auth);
    await next();
  };
};
