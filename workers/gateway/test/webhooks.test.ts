import { env, runDurableObjectAlarm, runInDurableObject, SELF } from "cloudflare:test";
import { createDb, subscriptions } from "@foundation/db";
import { consumerObjectName, deadLetterStream, partitionStream, SUBSCRIPTION_GONE_RETENTION_DAYS } from "@foundation/event-bus";
import { redisFrom } from "@foundation/service-kit";
import { HTTP } from "cloudevents";
import { eq } from "drizzle-orm";
import { Webhook } from "standardwebhooks";
import { describe, expect, inject, it, vi } from "vitest";
import { token } from "./auth.ts";

/**
 * Deliveries to subscriber URLs as any webhook receiver expects them: a real HTTP server on loopback (the upstream
 * fixture) plays the subscriber, answering as each test asks, and records what it received.
 */
const api = "http://gw.test/api/foundation";
const upstream = inject("upstreams").a;
const redis = () => redisFrom(env);

interface Received {
  at: number;
  headers: Record<string, string>;
  body: string;
}

async function call(method: string, path: string, scope: string, body?: unknown, headers: Record<string, string> = {}) {
  return SELF.fetch(`${api}${path}`, {
    method,
    headers: { "content-type": "application/json", authorization: `Bearer ${await token(scope)}`, ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** A fresh scenario on the fixture server, answering as `behaviour` says. */
async function subscriber(behaviour: Record<string, unknown>): Promise<{ url: string; received: () => Promise<Received[]> }> {
  const scenario = `hook-${crypto.randomUUID().slice(0, 8)}`;
  await fetch(`${upstream}/_fixture/${scenario}`, { method: "PUT", body: JSON.stringify(behaviour) });
  return {
    url: `${upstream}/${scenario}/events`,
    received: async () => (await (await fetch(`${upstream}/_fixture/${scenario}`)).json<{ requests: Received[] }>()).requests,
  };
}

async function subscribe(url: string, overrides: Record<string, unknown> = {}) {
  const stream = `test.webhooks.${crypto.randomUUID().slice(0, 8)}`;
  const res = await call("POST", "/subscriptions", "admin", { stream, group: "hook", target: { url }, retryBackoffMs: 20, ...overrides });
  expect(res.status).toBe(201);
  const sub = await res.json<{ id: string; secret: string }>();
  expect(sub.secret).toMatch(/^whsec_/);
  return { stream, ...sub };
}

const batchOf = (n: number) => Array.from({ length: n }, (_, i) => ({ type: "order.created", subject: `o-${i}`, data: { i } }));

describe("deliveries to a subscriber URL (Standard Webhooks, CloudEvents)", () => {
  it("counts any 2xx as delivered: a subscriber answering 204 without a body gets every event of a 500-event publish, each request verifiable", async () => {
    const hook = await subscriber({ status: 204 });
    const { stream, id, secret } = await subscribe(hook.url);
    const res = await call("POST", `/events/${stream}/batch`, "publish", batchOf(500));
    expect(res.status).toBe(202);
    const published = await res.json<{ ids: string[] }>();
    let requests: Received[] = [];
    await vi.waitFor(
      async () => {
        requests = await hook.received();
        expect(requests.flatMap((r) => JSON.parse(r.body) as unknown[])).toHaveLength(500);
      },
      { timeout: 15_000, interval: 100 },
    );
    const webhook = new Webhook(secret);
    const events: Array<{ id: string; streamid: string; deliverycount: number; specversion: string; data: { i: number } }> = [];
    for (const r of requests) {
      expect(r.headers["content-type"]).toBe("application/cloudevents-batch+json");
      expect(() => webhook.verify(r.body, r.headers)).not.toThrow();
      events.push(...(webhook.verify(r.body, r.headers) as typeof events));
      // The CloudEvents SDK reads the batch as events too.
      const parsed = HTTP.toEvent({ headers: r.headers, body: r.body });
      expect(Array.isArray(parsed) ? parsed.length : 1).toBe((JSON.parse(r.body) as unknown[]).length);
    }
    expect(events.map((e) => e.id)).toEqual(published.ids);
    expect(events.every((e) => e.specversion === "1.0" && e.deliverycount === 1 && /^\d+-\d+$/.test(e.streamid))).toBe(true);
    expect(await redis().xlen(deadLetterStream(stream))).toBe(0);
    const view = await (await call("GET", `/subscriptions/${id}`, "admin")).json<{ pending: number; state: string; secret?: string }>();
    expect(view).toMatchObject({ pending: 0, state: "active" });
    expect(view.secret).toBeUndefined();
  });

  it("signs each subscription with its own secret: another's does not verify, and the bus's own secret never leaves the gateway", async () => {
    const hook = await subscriber({ status: 200, body: "" });
    const { stream } = await subscribe(hook.url);
    const other = await subscribe((await subscriber({ status: 204 })).url);
    await call("POST", `/events/${stream}`, "publish", { type: "t" });
    await vi.waitFor(async () => expect(await hook.received()).toHaveLength(1));
    const [request] = await hook.received();
    expect(() => new Webhook(other.secret).verify(request?.body ?? "", request?.headers ?? {})).toThrow();
    expect(JSON.stringify(request)).not.toContain(env.EVENT_SIGNING_SECRET);
  });

  it("retries only the events a 2xx answer names as failed", async () => {
    const ids = [0, 1, 2].map((i) => `evt-${i}-${crypto.randomUUID()}`);
    const failing = { failed: [{ id: ids[1], error: "not now" }] };
    const hook = await subscriber({ status: 200, body: JSON.stringify(failing), then: { status: 204 } });
    const { stream } = await subscribe(hook.url, { maxDeliveries: 5 });
    const events = ids.map((id) => ({ specversion: "1.0", id, source: "/test", type: "t" }));
    expect((await call("POST", `/events/${stream}/batch`, "publish", events)).status).toBe(202);
    await vi.waitFor(
      async () => {
        const all = (await hook.received()).flatMap((r) => JSON.parse(r.body) as Array<{ id: string; deliverycount: number }>);
        expect(all.filter((e) => e.id === ids[1]).map((e) => e.deliverycount)).toEqual([1, 2]);
        expect(all.filter((e) => e.id === ids[0])).toHaveLength(1);
        expect(all.filter((e) => e.id === ids[2])).toHaveLength(1);
      },
      { timeout: 10_000, interval: 100 },
    );
  });

  it("waits out a 429 with Retry-After before sending the batch again, without counting the throttled attempt", async () => {
    const hook = await subscriber({ status: 429, headers: { "Retry-After": "2" }, body: "slow down", then: { status: 204 } });
    const { stream } = await subscribe(hook.url, { maxDeliveries: 1 });
    await call("POST", `/events/${stream}/batch`, "publish", batchOf(5));
    let requests: Received[] = [];
    await vi.waitFor(
      async () => {
        requests = await hook.received();
        expect(requests).toHaveLength(2);
      },
      { timeout: 10_000, interval: 100 },
    );
    const [throttled, delivered] = requests;
    expect((delivered?.at ?? 0) - (throttled?.at ?? 0)).toBeGreaterThanOrEqual(2000);
    const events = JSON.parse(delivered?.body ?? "[]") as Array<{ deliverycount: number }>;
    expect(events.map((e) => e.deliverycount)).toEqual([1, 1, 1, 1, 1]);
    expect(await redis().xlen(deadLetterStream(stream))).toBe(0);
  });

  it("pauses a subscription whose subscriber answers 410 Gone, dead-letters nothing, and delivers again once resumed", async () => {
    const hook = await subscriber({ status: 410, body: "gone", then: { status: 204 } });
    const { stream, id } = await subscribe(hook.url, { maxDeliveries: 1 });
    await call("POST", `/events/${stream}/batch`, "publish", batchOf(3));
    await vi.waitFor(async () => {
      const view = await (await call("GET", `/subscriptions/${id}`, "admin")).json<{ state: string; pausedReason: string }>();
      expect(view.state).toBe("paused");
      expect(view.pausedReason).toContain("410");
    });
    await call("POST", `/events/${stream}`, "publish", { type: "while-paused" });
    await new Promise((r) => setTimeout(r, 300));
    expect(await hook.received()).toHaveLength(1);
    expect(await redis().xlen(deadLetterStream(stream))).toBe(0);

    const resumed = await call("POST", `/subscriptions/${id}/resume`, "admin");
    expect((await resumed.json<{ state: string }>()).state).toBe("active");
    await vi.waitFor(
      async () => {
        const events = (await hook.received()).slice(1).flatMap((r) => JSON.parse(r.body) as Array<{ type: string }>);
        expect(events).toHaveLength(4);
      },
      { timeout: 10_000, interval: 100 },
    );
    expect(await redis().xlen(deadLetterStream(stream))).toBe(0);
  });

  it("pauses on request and deletes a subscription with its consumer group", async () => {
    const hook = await subscriber({ status: 204 });
    const { stream, id } = await subscribe(hook.url);
    const paused = await call("POST", `/subscriptions/${id}/pause`, "admin");
    expect(await paused.json()).toMatchObject({ state: "paused", pausedReason: "paused by an operator" });
    await call("POST", `/events/${stream}`, "publish", { type: "t" });
    await new Promise((r) => setTimeout(r, 300));
    expect(await hook.received()).toHaveLength(0);
    expect((await call("DELETE", `/subscriptions/${id}`, "admin")).status).toBe(204);
    expect((await call("GET", `/subscriptions/${id}`, "admin")).status).toBe(404);
    const groups = (await redis().xinfo(stream, { type: "GROUPS" })) as unknown[][];
    expect(groups.filter((g) => g.includes("hook"))).toEqual([]);
    expect((await call("POST", `/subscriptions/${id}/resume`, "admin")).status).toBe(404);
  });

  it("rotates a secret: for a day both the new and the old one verify", async () => {
    const hook = await subscriber({ status: 204 });
    const { stream, id, secret } = await subscribe(hook.url);
    const rotated = await call("POST", `/subscriptions/${id}/secret`, "admin");
    expect(rotated.status).toBe(200);
    const fresh = await rotated.json<{ secret: string; previousValidUntil: string }>();
    expect(fresh.secret).not.toBe(secret);
    expect(Date.parse(fresh.previousValidUntil) - Date.now()).toBeGreaterThan(23 * 3600 * 1000);
    await call("POST", `/events/${stream}`, "publish", { type: "t" });
    await vi.waitFor(async () => expect(await hook.received()).toHaveLength(1));
    const [request] = await hook.received();
    for (const s of [fresh.secret, secret]) expect(() => new Webhook(s).verify(request?.body ?? "", request?.headers ?? {})).not.toThrow();
  });

  it("delivers one event per request in CloudEvents binary mode: attributes as ce- headers, the data as the body", async () => {
    const hook = await subscriber({ status: 204 });
    const { stream, secret } = await subscribe(hook.url, { mode: "binary", batchSize: 1 });
    const res = await call("POST", `/events/${stream}`, "publish", { type: "order.created", subject: "o-1", data: { total: 42 } });
    const { id } = await res.json<{ id: string }>();
    await vi.waitFor(async () => expect(await hook.received()).toHaveLength(1));
    const [request] = await hook.received();
    expect(JSON.parse(request?.body ?? "")).toEqual({ total: 42 });
    expect(request?.headers).toMatchObject({
      "ce-specversion": "1.0",
      "ce-id": id,
      "ce-type": "order.created",
      "ce-subject": "o-1",
      "ce-deliverycount": "1",
      "content-type": "application/json",
    });
    expect(() => new Webhook(secret).verify(request?.body ?? "", request?.headers ?? {})).not.toThrow();
    // The CloudEvents SDK reads the request as it reads any binary-mode event.
    const event = HTTP.toEvent({ headers: request?.headers ?? {}, body: request?.body });
    expect(Array.isArray(event) ? event[0] : event).toMatchObject({ id, type: "order.created", subject: "o-1", data: { total: 42 } });
    const refused = await call("POST", "/subscriptions", "admin", { stream, group: "bin2", target: { url: hook.url }, mode: "binary" });
    expect(refused.status).toBe(400);
  });

  it("carries the publish's trace context into the stored event and onto the delivery", async () => {
    const hook = await subscriber({ status: 204 });
    const { stream } = await subscribe(hook.url);
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    await call("POST", `/events/${stream}`, "publish", { type: "t" }, { traceparent });
    await vi.waitFor(async () => expect(await hook.received()).toHaveLength(1));
    const [request] = await hook.received();
    const [event] = JSON.parse(request?.body ?? "[]") as Array<{ traceparent: string }>;
    expect(event?.traceparent).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
    expect(event?.traceparent).not.toBe(traceparent);
    expect(request?.headers.traceparent).toBe(event?.traceparent);
    // Without one, the gateway starts a trace.
    const untraced = await subscribe(hook.url.replace("/events", "/other"));
    await call("POST", `/events/${untraced.stream}`, "publish", { type: "t" });
    await vi.waitFor(async () => expect(await hook.received()).toHaveLength(2));
    const second = JSON.parse((await hook.received())[1]?.body ?? "[]") as Array<{ traceparent: string }>;
    expect(second[0]?.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });
});

describe("a subscription whose subscriber answered 410 Gone", () => {
  const DAY = 24 * 60 * 60 * 1000;
  const GONE_DAYS = SUBSCRIPTION_GONE_RETENTION_DAYS;
  /** The test's topic has four partitions (STREAM_PARTITIONS in vitest.config.ts). */
  const PARTITIONS = 4;
  type Paused = { reason: string; at: number; gone?: true };

  const consumer = (stream: string) => env.STREAM_CONSUMER.get(env.STREAM_CONSUMER.idFromName(consumerObjectName(stream, "hook")));
  /** What a consumer object keeps: its subscription, its pause and its alarm. */
  const stateOf = (stream: string) =>
    runInDurableObject(consumer(stream), async (_, state) => ({
      config: state.storage.kv.get<{ id: string }>("config"),
      paused: state.storage.kv.get<Paused>("paused"),
      alarm: await state.storage.getAlarm(),
    }));
  /** Moves a consumer's pause `days` into the past: time passing, without waiting for it. */
  const backdatePause = (stream: string, days: number) =>
    runInDurableObject(consumer(stream), (_, state) => {
      const paused = state.storage.kv.get<Paused>("paused");
      if (paused) state.storage.kv.put<Paused>("paused", { ...paused, at: paused.at - days * DAY });
    });
  const viewOf = async (id: string) => {
    const res = await call("GET", `/subscriptions/${id}`, "admin");
    return { status: res.status, body: res.status === 200 ? await res.json<{ state: string; pausedReason?: string }>() : undefined };
  };
  const rowOf = (id: string) => createDb(env).select().from(subscriptions).where(eq(subscriptions.id, id));
  const groupsOf = async (stream: string) =>
    ((await redis().xinfo(stream, { type: "GROUPS" })) as unknown[][]).filter((g) => g.includes("hook"));

  /** Subscribes a gone subscriber to `stream`, publishes one event and waits until the 410 paused its partition. */
  async function goneSubscription(stream: string, hook: { url: string }): Promise<{ id: string; pausedStream: string }> {
    const { id } = await subscribe(hook.url, { stream, maxDeliveries: 1 });
    const res = await call("POST", `/events/${stream}`, "publish", { type: "t", subject: "s-1" });
    const { partition } = await res.json<{ partition?: number }>();
    await vi.waitFor(
      async () => {
        const { body } = await viewOf(id);
        expect(body?.state).toBe("paused");
        expect(body?.pausedReason).toContain("410");
      },
      { timeout: 10_000, interval: 50 },
    );
    return { id, pausedStream: partition === undefined ? stream : partitionStream(stream, partition, PARTITIONS) };
  }

  it("is deleted 30 days after the pause: every partition's group and consumer, and its row; an early alarm changes nothing", async () => {
    const hook = await subscriber({ status: 410, body: "gone" });
    const topic = `test.partitioned.gone-${crypto.randomUUID().slice(0, 8)}`;
    const partitions = Array.from({ length: PARTITIONS }, (_, p) => partitionStream(topic, p, PARTITIONS));
    const { id, pausedStream } = await goneSubscription(topic, hook);

    const paused = await stateOf(pausedStream);
    expect(paused.paused).toMatchObject({ gone: true });
    expect(paused.alarm).toBe((paused.paused?.at ?? 0) + GONE_DAYS * DAY);

    // An alarm before the expiry (a restart, say) deletes nothing and is set again for the expiry.
    await backdatePause(pausedStream, GONE_DAYS - 1);
    expect(await runDurableObjectAlarm(consumer(pausedStream))).toBe(true);
    const early = await stateOf(pausedStream);
    expect(early.alarm).toBe((early.paused?.at ?? 0) + GONE_DAYS * DAY);
    expect((await viewOf(id)).status).toBe(200);
    expect(await rowOf(id)).toHaveLength(1);

    await backdatePause(pausedStream, 1);
    expect(await runDurableObjectAlarm(consumer(pausedStream))).toBe(true);
    expect((await viewOf(id)).status).toBe(404);
    expect(await rowOf(id)).toEqual([]);
    for (const stream of partitions) {
      expect(await groupsOf(stream), stream).toEqual([]);
      expect((await stateOf(stream)).config, stream).toBeUndefined();
    }
    expect(await stateOf(pausedStream)).toEqual({ config: undefined, paused: undefined, alarm: null });
    expect(await redis().xlen(deadLetterStream(pausedStream))).toBe(0);
  });

  it("is kept when an operator pauses it, however long ago", async () => {
    const hook = await subscriber({ status: 410, body: "gone" });
    const stream = `test.webhooks.${crypto.randomUUID().slice(0, 8)}`;
    const { id } = await goneSubscription(stream, hook);
    expect((await call("POST", `/subscriptions/${id}/pause`, "admin")).status).toBe(200);
    const byOperator = await stateOf(stream);
    expect(byOperator.paused?.reason).toBe("paused by an operator");
    expect(byOperator.paused?.gone).toBeUndefined();
    expect(byOperator.alarm).toBeNull();

    await backdatePause(stream, 10 * GONE_DAYS);
    await runInDurableObject(consumer(stream), (_, state) => state.storage.setAlarm(Date.now() + 60_000));
    expect(await runDurableObjectAlarm(consumer(stream))).toBe(true);
    expect((await viewOf(id)).body).toMatchObject({ state: "paused", pausedReason: "paused by an operator" });
    expect(await rowOf(id)).toHaveLength(1);
    expect(await groupsOf(stream)).toHaveLength(1);
  });

  it("is kept once resumed: the resume calls the deletion off", async () => {
    const hook = await subscriber({ status: 410, body: "gone", then: { status: 204 } });
    const stream = `test.webhooks.${crypto.randomUUID().slice(0, 8)}`;
    const { id } = await goneSubscription(stream, hook);
    expect((await stateOf(stream)).alarm).toBeGreaterThan(Date.now() + (GONE_DAYS - 1) * DAY);

    expect((await call("POST", `/subscriptions/${id}/resume`, "admin")).status).toBe(200);
    await vi.waitFor(async () => expect(await hook.received()).toHaveLength(2), { timeout: 10_000, interval: 50 });
    const resumed = await stateOf(stream);
    expect(resumed.paused).toBeUndefined();
    expect(resumed.alarm ?? 0).toBeLessThan(Date.now() + 2 * 60_000);

    await runDurableObjectAlarm(consumer(stream));
    expect((await viewOf(id)).body).toMatchObject({ state: "active" });
    expect(await rowOf(id)).toHaveLength(1);
  });
});

describe("creating a subscription", () => {
  it("writes nothing when Redis is down (503, Retry-After), and the retry creates it once", async () => {
    const { stackControl } = await import("./stack.ts");
    const stream = `test.webhooks.${crypto.randomUUID().slice(0, 8)}`;
    const body = { stream, group: "late", target: { url: (await subscriber({ status: 204 })).url } };
    await stackControl("redis/stop");
    try {
      const down = await call("POST", "/subscriptions", "admin", body);
      expect(down.status).toBe(503);
      expect(down.headers.get("Retry-After")).toBe("1");
    } finally {
      await stackControl("redis/start");
    }
    const created = await call("POST", "/subscriptions", "admin", body);
    expect(created.status).toBe(201);
    expect((await call("POST", "/subscriptions", "admin", body)).status).toBe(409);
  });

  it("starts a `startAt: new` subscription after the events already in the stream, however it is woken", async () => {
    const hook = await subscriber({ status: 204 });
    const stream = `test.webhooks.${crypto.randomUUID().slice(0, 8)}`;
    await call("POST", `/events/${stream}/batch`, "publish", batchOf(3));
    const res = await call("POST", "/subscriptions", "admin", { stream, group: "fresh", target: { url: hook.url }, startAt: "new" });
    expect(res.status).toBe(201);
    await call("POST", `/events/${stream}`, "publish", { type: "after" });
    await vi.waitFor(async () => expect(await hook.received()).toHaveLength(1));
    await new Promise((r) => setTimeout(r, 300));
    const events = (await hook.received()).flatMap((r) => JSON.parse(r.body) as Array<{ type: string }>);
    expect(events.map((e) => e.type)).toEqual(["after"]);
  });
});
