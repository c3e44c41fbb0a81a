import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";

/** Bindings that configure CORS. */
export interface CorsEnv {
  /**
   * Browser origins allowed to call this worker, separated by commas or spaces, each exactly
   * `scheme://host[:port]` (e.g. `https://app.rankmybrand.ai`). Unset: no cross-origin access at all.
   */
  CORS_ORIGINS?: string;
}

/** Headers a browser may send cross-origin, and the ones it may read back. */
const ALLOW_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key", "X-Correlation-Id", "X-Api-Key"];
const EXPOSE_HEADERS = ["X-Correlation-Id", "Retry-After", "RateLimit", "RateLimit-Policy", "Location"];
/** The headers that grant a cross-origin caller access: never on an answer to an unlisted origin or a non-browser call. */
const GRANTING_HEADERS = ["Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Expose-Headers"];

const parsed = new Map<string, ReadonlySet<string>>();

/**
 * The allow-list in `CORS_ORIGINS`. Entries that are not a plain origin (`null`, `*`, paths, wildcards,
 * userinfo) are dropped: an allow-list names each origin it trusts.
 * @example allowedOrigins("https://a.example, http://localhost:5173") // Set { "https://a.example", "http://localhost:5173" }
 */
export function allowedOrigins(config: string | undefined): ReadonlySet<string> {
  if (!config) return new Set();
  let origins = parsed.get(config);
  if (!origins) {
    origins = new Set(config.split(/[\s,]+/).filter(isOrigin));
    parsed.set(config, origins);
  }
  return origins;
}

function isOrigin(entry: string): boolean {
  if (!/^https?:\/\//.test(entry) || entry.includes("*")) return false;
  try {
    return new URL(entry).origin === entry;
  } catch {
    return false;
  }
}

/**
 * CORS from the `CORS_ORIGINS` allow-list, credentials allowed: a listed origin is echoed, any other origin
 * (including `null`) gets no `Access-Control-Allow-*` header at all, even one an upstream set, and every
 * response says `Vary: Origin` (Hono's middleware adds it) so caches keep the answers apart. Preflights are answered before auth runs.
 */
export const corsFromEnv = (): MiddlewareHandler<{ Bindings: CorsEnv }> => {
  const handler = cors({
    origin: (origin, c) => (allowedOrigins((c.env as CorsEnv | undefined)?.CORS_ORIGINS).has(origin) ? origin : null),
    credentials: true,
    allowMethods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
    allowHeaders: ALLOW_HEADERS,
    exposeHeaders: EXPOSE_HEADERS,
    maxAge: 600,
  });
  return async function corsAllowList(c, next) {
    const origin = c.req.header("origin");
    if (origin === undefined && c.req.method !== "OPTIONS") {
      // Not a browser's cross-origin call (server-to-server traffic, most of a gateway's): only `Vary` to add,
      // and no Access-Control header an upstream set is passed on. Reading `c.res` first makes Hono copy the
      // handler's response into a mutable one, as Hono's CORS middleware does: a response fetched from a Durable
      // Object or another worker has immutable headers, which the middleware after this one (secure headers) sets.
      void c.res;
      await next();
      c.header("Vary", "Origin", { append: true });
      for (const h of GRANTING_HEADERS) c.res.headers.delete(h);
      return;
    }
    const listed = allowedOrigins(c.env?.CORS_ORIGINS).has(origin ?? "");
    const preflight = await handler(c, next);
    if (!listed) {
      // Hono copies the context's headers onto a returned preflight response, so both are cleaned.
      for (const headers of [c.res.headers, preflight?.headers]) {
        for (const h of GRANTING_HEADERS) headers?.delete(h);
      }
    }
    return preflight;
  };
};
