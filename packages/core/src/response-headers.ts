import type { Context } from "hono";

/**
 * The headers of the response on `c`, made writable first when they are not, for middleware that sets headers after
 * the handler: a response fetched from another worker, a Durable Object or `Response.redirect()` has immutable
 * headers, and only such a response is copied (once), not every one. `X-Powered-By` goes in passing.
 * @example writableHeaders(c).set("X-Correlation-Id", id);
 */
export function writableHeaders(c: Context): Headers {
  const headers = c.res.headers;
  try {
    headers.delete("X-Powered-By");
    return headers;
  } catch {
    // Hono's `res` setter copies the response into a new one with mutable headers.
    const res = c.res;
    c.res = new Response(res.body, res);
    return c.res.headers;
  }
}
