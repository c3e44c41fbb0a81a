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
    // A copy with mutable headers. The context is cleared first: Hono's `res` setter would otherwise copy the
    // response once more and set every header of the old one on it again, one call each.
    const res = c.res;
    c.res = undefined;
    c.res = new Response(res.body, res);
    return c.res.headers;
  }
}
