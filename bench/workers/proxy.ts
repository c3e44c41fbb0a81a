/**
 * The floor of a gateway hop: the smallest Hono worker that forwards `/api/example/*` to the example over its service
 * binding, the way the gateway reaches it, and does nothing else (no middleware, no header rewriting, no timeout). Its
 * CPU per request minus the example's own is what one service-binding hop costs in workerd; the gateway's own work is
 * what it adds beyond that.
 */
import { Hono } from "hono";

const PREFIX = "/api/example";

const app = new Hono<{ Bindings: { EXAMPLE: { fetch(req: Request): Promise<Response> } } }>();

app.all(`${PREFIX}/*`, (c) => {
  const url = new URL(c.req.url);
  return c.env.EXAMPLE.fetch(new Request(`https://example.internal${url.pathname.slice(PREFIX.length)}${url.search}`, c.req.raw));
});

export default app;
