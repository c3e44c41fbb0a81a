import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import { serviceConfig } from "./config.ts";

/** Headers a browser may send cross-origin, and the ones it may read back. */
const ALLOW_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key", "X-Correlation-Id", "X-Api-Key"];
const EXPOSE_HEADERS = ["X-Correlation-Id", "Retry-After", "RateLimit", "RateLimit-Policy", "Location"];
/** The headers that grant a cross-origin caller access: never on an answer to an unlisted origin or a non-browser call. */
const GRANTING_HEADERS = ["Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Expose-Headers"];

/**
 * CORS from the `CORS_ORIGINS` allow-list (parsed once per env, see `ServiceVars`), credentials allowed: a listed origin is echoed, any other origin
 * (including `null`) gets no `Access-Control-Allow-*` header at all, even one an upstream set, and every
 * response says `Vary: Origin` (Hono's middleware adds it) so caches keep the answers apart. Preflights are answered before auth runs.
 */
export const corsFromEnv = (): MiddlewareHandler<{ Bindings: object }> => {
  const handler = cors({
    origin: (origin, c) => (serviceConfig(c.env as object).corsOrigins.has(origin) ? origin : null),
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
    const listed = serviceConfig(c.env).corsOrigins.has(origin ?? "");
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
