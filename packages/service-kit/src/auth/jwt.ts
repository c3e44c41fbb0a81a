import { createLocalJWKSet, createRemoteJWKSet, errors, jwtVerify, type JWTVerifyGetKey } from "jose";
import type { MiddlewareHandler } from "hono";
import type { DbEnv } from "@foundation/db";
import { HttpProblem } from "@foundation/core";
import { serviceConfig, type AuthSettings } from "../config.ts";
import { API_KEY_HEADER, verifyApiKey } from "./api-keys.ts";
import { hasScope, scopesOf } from "./scopes.ts";
import type { AuthContext } from "./types.ts";
import { VerifiedTokenCache } from "./token-cache.ts";

/** Bindings that configure token verification. */
export interface AuthEnv {
  /** HS256 secret shared with the token issuer (local: `.dev.vars`; production: `wrangler secret put JWT_SECRET`). */
  JWT_SECRET?: string;
  /** Required `iss` claim; default `foundation-local`. */
  JWT_ISSUER?: string;
  /** Required `aud` claim; default `foundation`. */
  JWT_AUDIENCE?: string;
  /**
   * Production with an identity provider: the URL of its JSON Web Key Set. Tokens are then verified with
   * those public keys (fetched and cached by jose, refreshed on an unknown `kid`) and `JWT_SECRET` is unused.
   */
  JWT_JWKS_URL?: string;
  /** The same as an inline JSON key set (`{"keys":[...]}`), for pinned keys; `JWT_JWKS_URL` wins when both are set. */
  JWT_JWKS?: string;
  /** Accepted algorithms with a key set, comma-separated; default `RS256,ES256`. Only asymmetric ones are honoured. */
  JWT_ALGORITHMS?: string;
}

const encoder = new TextEncoder();

/** Asymmetric algorithms a key set may be used with; HS* never, so a public key can never act as a shared secret. */
const ASYMMETRIC = new Set(["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA", "Ed25519"]);

/** Key sets by their configuration, so jose's cache of fetched keys lives as long as the isolate. */
const keySets = new Map<string, JWTVerifyGetKey>();

/** Tokens this isolate verified recently (see `VerifiedTokenCache`). */
const verifiedTokens = new VerifiedTokenCache<AuthContext>();

/** How tokens are verified under one configuration. */
interface Verification {
  key: JWTVerifyGetKey | Uint8Array;
  algorithms: string[];
  issuer: string;
  audience: string;
  maxAgeSeconds: number;
  /** Everything verification depends on, as one string: the token cache's namespace. */
  settings: string;
}

/** Verifications by the settings they were built from: built once per env, not per request. */
const verifications = new WeakMap<AuthSettings, Verification>();

/** How tokens are verified under `env`: a key set with asymmetric algorithms, or the HS256 secret. */
function verification(env: AuthEnv): Verification {
  const auth = serviceConfig(env).auth;
  let v = verifications.get(auth);
  if (!v) {
    if (!auth.keySet && !env.JWT_SECRET)
      throw new HttpProblem(503, { slug: "auth-not-configured", detail: "Token verification is not configured." });
    v = auth.keySet ? keySetVerification(auth, auth.keySet) : secretVerification(auth, env.JWT_SECRET ?? "");
    verifications.set(auth, v);
  }
  return v;
}

function secretVerification(auth: AuthSettings, secret: string): Verification {
  const { issuer, audience, maxAgeSeconds } = auth;
  return {
    key: encoder.encode(secret),
    algorithms: ["HS256"],
    issuer,
    audience,
    maxAgeSeconds,
    settings: `HS256\u0000${secret}\u0000${issuer}\u0000${audience}`,
  };
}

function keySetVerification(auth: AuthSettings, keySet: NonNullable<AuthSettings["keySet"]>): Verification {
  const source = "url" in keySet ? keySet.url.href : JSON.stringify(keySet.keys);
  let keys = keySets.get(source);
  if (!keys) {
    keys = "url" in keySet ? createRemoteJWKSet(keySet.url) : createLocalJWKSet(keySet.keys);
    keySets.set(source, keys);
  }
  const algorithms = auth.algorithms.filter((a) => ASYMMETRIC.has(a));
  const { issuer, audience, maxAgeSeconds } = auth;
  return {
    key: keys,
    algorithms,
    issuer,
    audience,
    maxAgeSeconds,
    settings: `keys\u0000${source}\u0000${algorithms.join(",")}\u0000${issuer}\u0000${audience}`,
  };
}

/** Seconds of clock skew between the token's issuer and this isolate that `exp`, `nbf` and `iat` tolerate. */
export const CLOCK_TOLERANCE_SECONDS = 30;

/**
 * The services a token's `aud` allows: undefined for every service (`aud` holds the configured audience itself);
 * a set for a token restricted to some (`aud` holds `<audience>:<service>` entries); null when `aud` names neither.
 * @example servicesOf(["foundation:billing"], "foundation") // Set { "billing" }
 */
export function servicesOf(aud: unknown, audience: string): ReadonlySet<string> | undefined | null {
  const entries = (Array.isArray(aud) ? aud : [aud]).filter((a): a is string => typeof a === "string");
  if (entries.includes(audience)) return undefined;
  const prefix = `${audience}:`;
  const services = entries.filter((a) => a.startsWith(prefix)).map((a) => a.slice(prefix.length));
  return services.length > 0 ? new Set(services) : null;
}

function unauthorized(detail: string): HttpProblem {
  return new HttpProblem(401, { slug: "unauthorized", detail, headers: { "WWW-Authenticate": 'Bearer realm="foundation"' } });
}

/**
 * Verifies a bearer token: only the configured algorithms (HS256 with `JWT_SECRET`, or RS256/ES256 with
 * a key set, so `alg: none` and key-confusion tokens fail), a numeric `exp` in the future, the configured
 * issuer and audience, and a subject. Tokens are only read from the `Authorization` header, never from
 * the URL, where they would end up in logs. A token this isolate verified under the same settings in the last
 * minute, and not yet expired, is answered from memory (see `VerifiedTokenCache`).
 */
export async function verifyBearer(authorization: string | undefined, env: AuthEnv, now: () => number = Date.now): Promise<AuthContext> {
  const { key, algorithms, issuer, audience, maxAgeSeconds, settings } = verification(env);
  const match = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)$/.exec(authorization ?? "");
  if (!match?.[1]) throw unauthorized("A bearer token is required in the Authorization header.");
  const cached = verifiedTokens.get(settings, match[1], now());
  if (cached) return cached;
  try {
    // The audience is checked below: a token may be for every service (`aud` = the audience) or only for some.
    const options = {
      algorithms,
      issuer,
      requiredClaims: ["exp", "sub", "aud"],
      currentDate: new Date(now()),
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
    };
    const { payload } = key instanceof Uint8Array ? await jwtVerify(match[1], key, options) : await jwtVerify(match[1], key, options);
    if (typeof payload.sub !== "string" || payload.sub === "") throw unauthorized("The token has no subject.");
    if ((payload.exp ?? 0) - now() / 1000 > maxAgeSeconds + CLOCK_TOLERANCE_SECONDS) {
      throw unauthorized(`The token is valid for longer than the ${maxAgeSeconds} s this gateway accepts.`);
    }
    const services = servicesOf(payload.aud, audience);
    if (services === null) throw unauthorized("The token is for another audience.");
    const auth: AuthContext = Object.freeze({
      subject: payload.sub,
      scopes: scopesOf(payload),
      claims: Object.freeze(payload),
      ...(services ? { services } : {}),
    });
    verifiedTokens.set(settings, match[1], auth, payload.exp ?? 0, now());
    return auth;
  } catch (err) {
    if (err instanceof HttpProblem) throw err;
    const detail = err instanceof errors.JWTExpired ? "The token has expired." : "The token is invalid.";
    throw unauthorized(detail);
  }
}

/** The credentials a request carries: its `Authorization` header and its `X-Api-Key` header, and who sent them. */
export interface Credentials {
  authorization: string | undefined;
  apiKey: string | undefined;
  /** The client's address (`cf-connecting-ip`), which API key lookups are counted by. */
  client?: string;
}

/** A request's credentials. */
export function credentialsOf(req: { header(name: string): string | undefined }): Credentials {
  const client = req.header("cf-connecting-ip");
  return { authorization: req.header("authorization"), apiKey: req.header(API_KEY_HEADER), ...(client ? { client } : {}) };
}

/**
 * The verified caller of a request: an API key (`X-Api-Key`, checked against the key store) when the
 * request carries one and no `Authorization` header, else a bearer token.
 */
export function verifyCaller(credentials: Credentials, env: AuthEnv & Partial<DbEnv>, now: () => number = Date.now): Promise<AuthContext> {
  if (credentials.apiKey !== undefined && credentials.authorization === undefined) {
    return verifyApiKey(credentials.apiKey, env, now, credentials.client);
  }
  return verifyBearer(credentials.authorization, env, now);
}

/**
 * Requires a valid bearer token or API key holding one of `anyOf` scopes (any valid caller when empty);
 * the handler never runs otherwise. Puts the caller on `c.var.auth`, or reuses the one an earlier
 * middleware verified.
 * @example app.post("/api/foundation/events/:stream", requireAuth({ anyOf: ["publish"] }), handler);
 */
export const requireAuth = (
  options: { anyOf?: readonly string[] } = {},
): MiddlewareHandler<{ Bindings: AuthEnv & Partial<DbEnv>; Variables: { auth: AuthContext } }> => {
  const anyOf = options.anyOf ?? [];
  return async function requireAuth(c, next) {
    const auth = (c.get("auth") as AuthContext | undefined) ?? (await verifyCaller(credentialsOf(c.req), c.env));
    if (anyOf.length > 0 && !hasScope(auth, anyOf)) {
      throw new HttpProblem(403, { slug: "insufficient-scope", detail: `This operation needs one of the scopes: ${anyOf.join(", ")}.` });
    }
    c.set("auth", auth);
    await next();
  };
};
