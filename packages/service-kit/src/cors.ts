import type { MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import { serviceConfig } from "./config.ts";
import { writableHeaders } from "@foundation/core";

/** Headers a browser may send cross-origin, and the ones it may read back. */
const ALLOW_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key", "X-Correlation-Id", "X-Api-Key"];
const EXPOSE_HEADERS = ["X-Correlation-Id", "Retry-After", "RateLimit", "RateLimit-Policy", "Location"];
/** The headers that grant a cross-origin caller access: never on an answer to an unlisted origin or a non-browser call. */
const GRANTING_HEADERS = ["Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Expose-Headers"];

/**
 * The `Vary` value that lists `Origin` once: `vary` as it is when it lists `Origin` (or `*`) exactly once, else with
 * `Origin` added or its repeats removed; the other fields keep their order. A proxied answer arrives with the service's
 * own `Vary: Origin`, which a blind append would repeat.
 * @example withVaryOrigin("Accept-Encoding") // "Accept-Encoding, Origin"
 */
export function withVaryOrigin(vary: string | null): string {
  if (vary === null || vary.trim() === "") return "Origin";
  const fields = vary
    .split(",")
    .map((f) => f.trim())
    .filter(Boolean);
  const origins = fields.filter((f) => f.toLowerCase() === "origin").length;
  if (fields.includes("*") || origins === 1) return vary;
  if (origins === 0) return `${vary}, Origin`;
  let seen = false;
  const once = fields.filter((f) => {
    if (f.toLowerCase() !== "origin") return true;
    if (seen) return false;
    seen = true;
    return true;
  });
  return once.join(", ");
}

/** Makes `headers` vary on `Origin` once (see {@link withVaryOrigin}), writing only when that changes it. */
function varyOnOrigin(headers: Headers): void {
  const vary = headers.get("Vary");
  const wanted = withVaryOrigin(vary);
  if (wanted !== vary) headers.set("Vary", wanted);
}

/**
 * Whether a request is a browser's cross-origin call or a preflight: it carries `Origin`, or is an `OPTIONS`. Only those
 * need the allow-list; any other request is answered by {@link withoutCrossOriginGrants}.
 */
function isCrossOriginCall(method: string, origin: string | undefined): boolean {
  return origin !== undefined || method === "OPTIONS";
}

/**
 * The response headers of a request that is not a browser's cross-origin call (server-to-server traffic, most of a
 * gateway's): `Vary` lists `Origin` once, and no `Access-Control` header that grants access (one an upstream set) is
 * passed on.
 */
function withoutCrossOriginGrants(headers: Headers): void {
  varyOnOrigin(headers);
  for (const h of GRANTING_HEADERS) headers.delete(h);
}

/**
 * The CORS middleware for browsers' cross-origin calls and preflights (see {@link isCrossOriginCall}), from the
 * `CORS_ORIGINS` allow-list (parsed once per env, see `ServiceVars`), credentials allowed: a listed origin is echoed,
 * any other origin (including `null`) gets no `Access-Control-Allow-*` header at all, even one an upstream set, and
 * the response says `Vary: Origin` once. Returns the preflight's answer, which comes before auth runs.
 */
function browserCors(): MiddlewareHandler {
  const handler = cors({
    origin: (origin, c) => (serviceConfig(c.env as object).corsOrigins.has(origin) ? origin : null),
    credentials: true,
    allowMethods: ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"],
    allowHeaders: ALLOW_HEADERS,
    exposeHeaders: EXPOSE_HEADERS,
    maxAge: 600,
  });
  return async function browserCors(c, next) {
    const listed = serviceConfig(c.env as object).corsOrigins.has(c.req.header("origin") ?? "");
    const preflight = await handler(c, next);
    // Hono's middleware appends `Origin` to `Vary` after the handler, also to a proxied answer that lists it already.
    if (!preflight) varyOnOrigin(writableHeaders(c));
    if (!listed) {
      // Hono copies the context's headers onto a returned preflight response, so both are cleaned.
      for (const headers of [c.res.headers, preflight?.headers]) {
        for (const h of GRANTING_HEADERS) headers?.delete(h);
      }
    }
    return preflight;
  };
}

/**
 * CORS as one middleware: {@link browserCors} for browsers' cross-origin calls and preflights,
 * {@link withoutCrossOriginGrants} for every other request. Every response says `Vary: Origin`, so caches keep the
 * answers apart. The kit runs it inside its request context. Returns a preflight's answer.
 * @example app.use(corsFromEnv());
 */
export const corsFromEnv = (): MiddlewareHandler => {
  const browser = browserCors();
  return async function corsAllowList(c, next) {
    if (isCrossOriginCall(c.req.method, c.req.header("origin"))) return browser(c, next);
    // The response is copied only when its headers are immutable (fetched from a Durable Object or another worker).
    await next();
    withoutCrossOriginGrants(writableHeaders(c));
  };
};
