import { configReader, intVar, jsonVar, optionalVar } from "@foundation/core";
import type { JSONWebKeySet } from "jose";
import { z } from "zod";

/** Defaults of the local stack; `npm run token` issues tokens with these. */
export const DEFAULT_ISSUER = "foundation-local";
export const DEFAULT_AUDIENCE = "foundation";

/** Whether `entry` is exactly a browser origin, `scheme://host[:port]`, with nothing else (no path, wildcard or userinfo). */
function isOrigin(entry: string): boolean {
  if (!/^https?:\/\//.test(entry) || entry.includes("*")) return false;
  try {
    return new URL(entry).origin === entry;
  } catch {
    return false;
  }
}

/**
 * `CORS_ORIGINS`: browser origins separated by commas or spaces, each exactly `scheme://host[:port]`. Anything
 * else (`null`, `*`, a wildcard host, a path) is refused: an allow-list names each origin it trusts.
 */
export const CorsOrigins = z.string().transform((text, ctx): ReadonlySet<string> => {
  const entries = text.split(/[\s,]+/).filter(Boolean);
  for (const entry of entries.filter((e) => !isOrigin(e))) {
    ctx.addIssue({ code: "custom", message: `"${entry}" is not an origin (scheme://host[:port], no path or wildcard)` });
  }
  return new Set(entries);
});

/** A JSON Web Key Set inline (`{"keys":[...]}`). */
const KeySet = z.object({ keys: z.array(z.looseObject({ kty: z.string() })).min(1) });

/**
 * The `[vars]` the service kit reads, in every worker built on it. Secrets (`JWT_SECRET`, tokens) are not vars
 * and are read where they are used.
 */
export const ServiceVars = z.object({
  /** `local` allows loopback and `http:` addresses; any other name (`staging`, `production`, `bench`) is a deployed environment. */
  ENVIRONMENT: optionalVar(z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, "a lowercase environment name such as local, staging or production")),
  CORS_ORIGINS: optionalVar(CorsOrigins),
  JWT_ISSUER: optionalVar(z.string()),
  JWT_AUDIENCE: optionalVar(z.string()),
  JWT_JWKS_URL: optionalVar(z.url({ protocol: /^https?$/ })),
  JWT_JWKS: optionalVar(jsonVar(KeySet)),
  /** Comma-separated; only asymmetric algorithms are ever honoured with a key set (see `verifyBearer`). */
  JWT_ALGORITHMS: optionalVar(z.string().regex(/^[A-Za-z0-9]+(\s*,\s*[A-Za-z0-9]+)*$/, "a comma-separated list of JWS algorithm names")),
  /** Longest a token may still be valid for (`exp` from now); a token minted to live longer is refused. */
  JWT_MAX_AGE_SECONDS: optionalVar(intVar(60, 366 * 86_400)),
  /** Deadline of one Redis request in ms, retries included (default 3000). */
  REDIS_TIMEOUT_MS: optionalVar(intVar(1, 60_000)),
  /** Deadline of one Postgres statement or Pool connection in ms (default 5000). */
  DATABASE_TIMEOUT_MS: optionalVar(intVar(1, 60_000)),
  METRICS_SHARDS: optionalVar(intVar(1, 64)),
  METRICS_FLUSH_INTERVAL_MS: optionalVar(intVar(1, 3_600_000)),
  UPSTASH_REDIS_REST_URL: optionalVar(z.url({ protocol: /^https?$/ })),
  NEON_HTTP_ENDPOINT: optionalVar(z.url({ protocol: /^https?$/ })),
  NEON_WS_PROXY: optionalVar(z.string().regex(/^[\w.-]+:\d+(\/\S*)?$/, "host:port/path of the local Neon WebSocket relay")),
  REGISTRY_URL: optionalVar(z.url({ protocol: /^https?$/ })),
  SERVICE_URL: optionalVar(z.url({ protocol: /^https?$/ })),
});

/** How tokens are verified, from the vars: the claims required, and the key set when one is configured. */
export interface AuthSettings {
  issuer: string;
  audience: string;
  /** The key set's URL, or its inline keys; neither means HS256 with `JWT_SECRET`. */
  keySet: { url: URL } | { keys: JSONWebKeySet } | undefined;
  /** The algorithms named in `JWT_ALGORITHMS` (default RS256, ES256). */
  algorithms: string[];
  /** `JWT_MAX_AGE_SECONDS`, default {@link DEFAULT_MAX_TOKEN_AGE_SECONDS}. */
  maxAgeSeconds: number;
}

/** Longest remaining life of a token by default: 31 days, longer than the service tokens `npm run dev` issues. */
export const DEFAULT_MAX_TOKEN_AGE_SECONDS = 31 * 86_400;

/** What the kit's middleware reads from a worker's vars, parsed once per env. */
export interface ServiceConfig {
  environment: string | undefined;
  corsOrigins: ReadonlySet<string>;
  auth: AuthSettings;
}

/** Builds the kit's config from parsed vars (the gateway's config calls it on its own vars). */
export function serviceConfigOf(vars: z.output<typeof ServiceVars>): ServiceConfig {
  const keySet = vars.JWT_JWKS_URL
    ? { url: new URL(vars.JWT_JWKS_URL) }
    : vars.JWT_JWKS
      ? { keys: vars.JWT_JWKS as JSONWebKeySet }
      : undefined;
  return {
    environment: vars.ENVIRONMENT,
    corsOrigins: vars.CORS_ORIGINS ?? new Set(),
    auth: {
      issuer: vars.JWT_ISSUER ?? DEFAULT_ISSUER,
      audience: vars.JWT_AUDIENCE ?? DEFAULT_AUDIENCE,
      keySet,
      algorithms: (vars.JWT_ALGORITHMS ?? "RS256,ES256").split(",").map((a) => a.trim()),
      maxAgeSeconds: vars.JWT_MAX_AGE_SECONDS ?? DEFAULT_MAX_TOKEN_AGE_SECONDS,
    },
  };
}

/**
 * The kit's configuration of a worker's env, parsed once per env object; throws a `ConfigError` naming every
 * variable at fault (`npm run check` runs the same parse over every environment's `[vars]`).
 * @example serviceConfig(c.env).corsOrigins.has(origin)
 */
export const serviceConfig = configReader(ServiceVars, serviceConfigOf);
