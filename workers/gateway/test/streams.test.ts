import { env, SELF } from "cloudflare:test";
import { QUOTA_EXCEEDED_TYPE } from "@foundation/core";
import { createDb, events } from "@foundation/db";
import { deadLetterStream, KNOWN_TOPICS_KEY, newTopicCounterKey, wakeConsumer, archiverConfig } from "@foundation/event-bus";
import { redisFrom } from "@foundation/service-kit";
import { count, eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { app } from "../src/app.ts";
import { token } from "./auth.ts";

const unique = (prefix: string) => `${prefix}.${crypto.randomUUID().slice(0, 8)}`;
const redis = () => redisFrom(env);

/** Publishes one event through the gateway with `bindings` (the test env with some vars changed). */
async function publish(bindings: object, stream: string, bearer: string, init: RequestInit = {}): Promise<Response> {
  return app.request(
    `/api/foundation/events/${stream}`,
    {
      method: "POST",
      ...init,
      headers: { "content-type": "application/json", authorization: `Bearer ${bearer}`, ...init.headers },
      body: JSON.stringify({ type: "test.quota", data: {} }),
    },
    bindings,
  );
}

describe("new-stream quota (NEW_STREAMS_PER_HOUR)", () => {
  const limited = { ...env, NEW_STREAMS_PER_HOUR: "3" };

  it("lets a publisher create 3 new streams per hour, then answers 429 quota-exceeded and writes nothing", async () => {
    const publisher = unique("quota-publisher");
    const bearer = await token("publish", publisher);
    const streams = Array.from({ length: 4 }, () => unique("test.quota"));
    for (const stream of streams.slice(0, 3)) expect((await publish(limited, stream, bearer)).status).toBe(202);
    const refused = await publish(limited, streams[3] ?? "", bearer);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("content-type")).toContain("application/problem+json");
    const retryAfter = Number(refused.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(3500);
    expect(retryAfter).toBeLessThanOrEqual(3600);
    const problem = await refused.json<{ type: string; status: number; detail: string }>();
    expect(problem).toMatchObject({ type: QUOTA_EXCEEDED_TYPE, status: 429 });
    expect(problem.detail).toMatch(/NEW_STREAMS_PER_HOUR/);
    expect(await redis().exists(streams[3] ?? "")).toBe(0);
    expect(await redis().sismember(KNOWN_TOPICS_KEY, streams[3] ?? "")).toBe(0);
    expect(Number(await redis().get(newTopicCounterKey(publisher)))).toBe(3);
  });

  it("still accepts existing streams, a retry of an accepted publish, another publisher's new stream and an admin's", async () => {
    const bearer = await token("publish", unique("quota-full"));
    const first = unique("test.quota");
    const accepted = await publish(limited, first, bearer, { headers: { "idempotency-key": "k1" } });
    expect(accepted.status).toBe(202);
    for (let i = 0; i < 2; i++) expect((await publish(limited, unique("test.quota"), bearer)).status).toBe(202);
    expect((await publish(limited, unique("test.quota"), bearer)).status).toBe(429);
    expect((await publish(limited, first, bearer)).status).toBe(202);
    const retry = await publish(limited, first, bearer, { headers: { "idempotency-key": "k1" } });
    expect(await retry.json()).toMatchObject({ duplicate: true });
    const existing = unique("test.quota");
    await redis().xadd(existing, "*", { event: "{}" });
    expect((await publish(limited, existing, bearer)).status).toBe(202);
    expect((await publish(limited, unique("test.quota"), await token("publish", unique("quota-other")))).status).toBe(202);
    expect((await publish(limited, unique("test.quota"), await token("admin", unique("quota-admin")))).status).toBe(202);
  });

  it("refuses every new stream with NEW_STREAMS_PER_HOUR=0", async () => {
    const bearer = await token("publish", unique("quota-none"));
    expect((await publish({ ...env, NEW_STREAMS_PER_HOUR: "0" }, unique("test.quota"), bearer)).status).toBe(429);
  });
});

describe("DELETE /api/foundation/events/:stream", () => {
  const call = async (method: string, path: string, scope: string, body?: unknown) =>
    SELF.fetch(`http://gw.test/api/foundation${path}`, {
      method,
      headers: { authorization: `Bearer ${await token(scope)}`, ...(body ? { "content-type": "application/json" } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });

  it("is for admins only, and 404 for a stream that does not exist", async () => {
    expect((await call("DELETE", `/events/${unique("test.delete")}`, "publish")).status).toBe(403);
    const missing = await call("DELETE", `/events/${unique("test.delete")}`, "admin");
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ type: "/problems/unknown-stream" });
  });

  it("deletes the entries, dead letters, subscriptions with their groups, archived events and metric series of an archived stream", async () => {
    // The one archived stream of the test config left to this file (see vitest.config.ts).
    const stream = "test.archived.16";
    for (let i = 0; i < 3; i++) expect((await call("POST", `/events/${stream}`, "publish", { type: "t", data: { i } })).status).toBe(202);
    const sub = await call("POST", "/subscriptions", "admin", {
      stream,
      group: "deleted-with-the-stream",
      target: { service: "example" },
    });
    expect(sub.status).toBe(201);
    const { id } = await sub.json<{ id: string }>();
    await redis().xadd(deadLetterStream(stream), "*", { originalId: "1-0", group: "g", event: "{}" });
    // The archiver copies the three events into Postgres.
    await wakeConsumer(env, archiverConfig(stream));
    const archived = async () => (await createDb(env).select({ n: count() }).from(events).where(eq(events.stream, stream)))[0]?.n;
    for (let i = 0; i < 100 && (await archived()) !== 3; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await archived()).toBe(3);
    const metrics = () => SELF.fetch("http://gw.test/metrics").then((r) => r.text());
    await env.METRICS_AGGREGATOR.get(env.METRICS_AGGREGATOR.idFromName("metrics-0")).ingest({
      service: "gateway",
      isolate: unique("isolate"),
      seq: 1,
      families: [
        {
          type: "counter",
          name: "foundation_events_published_total",
          help: "Events appended to a stream, by stream",
          samples: [{ labels: { stream }, value: 3 }],
        },
      ],
    });
    expect(await metrics()).toContain(`stream="${stream}"`);

    const res = await call("DELETE", `/events/${stream}`, "admin");
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ stream, partitions: 1, subscriptions: 1, entries: 3, deadLetters: 1, archivedEvents: 3 });
    expect(await redis().exists(stream, deadLetterStream(stream))).toBe(0);
    expect(await redis().sismember(KNOWN_TOPICS_KEY, stream)).toBe(0);
    expect(await archived()).toBe(0);
    expect((await call("GET", `/subscriptions/${id}`, "admin")).status).toBe(404);
    expect((await metrics()).split("\n").filter((l) => l.includes(`stream="${stream}"`))).toEqual([]);
    expect((await call("GET", `/events/${stream}`, "read").then((r) => r.json<{ events: unknown[] }>())).events).toEqual([]);
    expect((await call("DELETE", `/events/${stream}`, "admin")).status).toBe(404);

    // Published to again, the stream starts afresh, archiver included.
    expect((await call("POST", `/events/${stream}`, "publish", { type: "t", data: { again: true } })).status).toBe(202);
    for (let i = 0; i < 100 && (await archived()) !== 1; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await archived()).toBe(1);
  });
});
