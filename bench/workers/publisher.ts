/**
 * The floor of a publish: the smallest Hono worker that appends each request's body to a Redis stream with one
 * `XADD` over the Upstash REST protocol (a plain `fetch`, no client library, no validation, no envelope) and answers
 * 202 with the entry's id. Its CPU per request against the minimal proxy's is what one outbound Redis call costs
 * against one service-binding hop to the example; the gateway's publish route does its own work beyond that.
 */
import { Hono } from "hono";

type Env = { UPSTASH_REDIS_REST_URL: string; UPSTASH_REDIS_REST_TOKEN: string };

const app = new Hono<{ Bindings: Env }>();

app.post("/api/foundation/events/:stream", async (c) => {
  const res = await fetch(c.env.UPSTASH_REDIS_REST_URL, {
    method: "POST",
    headers: { authorization: `Bearer ${c.env.UPSTASH_REDIS_REST_TOKEN}` },
    body: JSON.stringify(["XADD", `bench:minimal:${c.req.param("stream")}`, "MAXLEN", "~", "100000", "*", "event", await c.req.text()]),
  });
  const reply = await res.json<{ result?: string; error?: string }>();
  if (!res.ok || reply.result === undefined) return c.json({ error: reply.error ?? `status ${res.status}` }, 502);
  return c.json({ streamId: reply.result }, 202);
});

export default app;
