import { env, runDurableObjectAlarm, SELF } from "cloudflare:test";
import { consumerObjectName, newWebhookSecret, serviceSecret, webhookHeaders } from "@foundation/event-bus";
import { redisFrom } from "@foundation/service-kit";
import { afterEach, describe, expect, it, vi } from "vitest";
import { token } from "./auth.ts";

const api = "http://gw.test/api/foundation";
const redis = () => redisFrom(env);
/** A hash as an object (the raw client answers HGETALL with a flat array). */
async function hash(key: string): Promise<Record<string, string>> {
  const flat = ((await redis().hgetall(key)) ?? []) as unknown as string[];
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i] ?? ""] = flat[i + 1] ?? "";
  return out;
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function call(method: string, path: string, scope: string, body?: unknown): Promise<Response> {
  return SELF.fetch(`${api}${path}`, {
    method,
    headers: { "content-type": "application/json", authorization: `Bearer ${await token(scope)}` },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** The subscriptions a test made: deleted after it, so no group of an earlier test also handles (or dead-letters) a later test's events. */
const made: string[] = [];
afterEach(async () => {
  for (const id of made.splice(0)) expect([204, 404]).toContain((await call("DELETE", `/subscriptions/${id}`, "admin")).status);
});

/** Subscribes the example service (with a group of its own) to the greetings stream, with fast retries for the test. */
async function subscribe(overrides: Record<string, unknown> = {}) {
  const stream = "example.greetings";
  const group = `g-${crypto.randomUUID().slice(0, 8)}`;
  const res = await call("POST", "/subscriptions", "admin", {
    stream,
    group,
    target: { service: "example" },
    retryBackoffMs: 20,
    maxDeliveries: 3,
    ...overrides,
  });
  expect(res.status).toBe(201);
  const sub = await res.json<{ id: string }>();
  made.push(sub.id);
  const stub = env.STREAM_CONSUMER.get(env.STREAM_CONSUMER.idFromName(consumerObjectName(stream, group)));
  return { stream, group, id: sub.id, stub };
}

async function publish(stream: string, data: unknown): Promise<{ id: string; streamId: string }> {
  const res = await call("POST", `/events/${stream}`, "publish", { type: "greeting", data });
  expect(res.status).toBe(202);
  return res.json();
}

describe("event delivery to a subscribed service", () => {
  it("delivers published events once, acknowledges them, and reports no lag", async () => {
    const { stream, group, id } = await subscribe();
    const events = [await publish(stream, { n: 1 }), await publish(stream, { n: 2 })];
    // No alarm is run by hand: the publishes' pokes alone get the events delivered.
    await vi.waitFor(async () => {
      for (const e of events) expect(await redis().get(`example:greeted:${group}:${e.id}`)).toBe(e.streamId);
    });
    const status = await (
      await call("GET", `/subscriptions/${id}`, "admin")
    ).json<{ pending: number; lag: number; dlqSize: number; lastDeliveryAt: string }>();
    expect(status).toMatchObject({ pending: 0, lag: 0 });
    expect(status.lastDeliveryAt).toBeTruthy();
  });

  it("splits a batch larger than the service accepts into requests under its size, so every large event arrives", async () => {
    const { stream, group } = await subscribe({ batchSize: 100 });
    // Twenty 60 KB events make 1.2 MB, more than the kit's 1 MiB body limit in one request.
    const big = "x".repeat(60 * 1024);
    const res = await call(
      "POST",
      `/events/${stream}/batch`,
      "publish",
      Array.from({ length: 20 }, (_, i) => ({ type: "greeting", data: { i, big } })),
    );
    expect(res.status).toBe(202);
    const { ids, streamIds } = await res.json<{ ids: string[]; streamIds: string[] }>();
    await vi.waitFor(
      async () => {
        for (const [i, id] of ids.entries()) expect(await redis().get(`example:greeted:${group}:${id}`)).toBe(streamIds[i]);
      },
      { timeout: 15_000, interval: 100 },
    );
    for (const id of ids) expect(await hash(`example:deliveries:${group}:${id}`)).toEqual({ "1": expect.any(String) as string });
  });

  it("gives every group of a stream every event", async () => {
    const a = await subscribe();
    const b = await subscribe();
    const e = await publish(a.stream, { n: 3 });
    await runDurableObjectAlarm(a.stub);
    await runDurableObjectAlarm(b.stub);
    expect(await hash(`example:deliveries:${a.group}:${e.id}`)).toEqual({ "1": e.streamId });
    expect(await hash(`example:deliveries:${b.group}:${e.id}`)).toEqual({ "1": e.streamId });
    const statusA = await (await call("GET", `/subscriptions/${a.id}`, "admin")).json<{ pending: number }>();
    const statusB = await (await call("GET", `/subscriptions/${b.id}`, "admin")).json<{ pending: number }>();
    expect([statusA.pending, statusB.pending]).toEqual([0, 0]);
  });

  it("redelivers an event whose consumer died before acknowledging it, with the same id and payload and delivery count 2", async () => {
    const { stream, group, stub } = await subscribe();
    const event = { specversion: "1.0", id: crypto.randomUUID(), source: "/test", type: "greeting", data: { n: 4 } };
    // Written straight to Redis (no publish poke), then read by a consumer that dies before acknowledging.
    const streamId = await redis().xadd(stream, "*", { event: JSON.stringify(event) });
    const e = { id: event.id, streamId };
    await redis().xreadgroup(group, "crashed-consumer", stream, ">", { count: 10 });
    await sleep(30);
    // Rounds until the entry, idle past its backoff, has been reclaimed (an automatic alarm may run one first).
    await vi.waitFor(async () => {
      await stub.runRound();
      expect(await hash(`example:deliveries:${group}:${e.id}`)).toEqual({ "2": e.streamId });
    });
    expect(await redis().get(`example:greeted:${group}:${e.id}`)).toBe(e.streamId);
  });

  it("dead-letters a corrupt stream entry on its own and delivers the events around it", async () => {
    const { stream, group, stub } = await subscribe({ maxDeliveries: 2 });
    const good = { specversion: "1.0", id: crypto.randomUUID(), source: "/test", type: "greeting", data: { n: 5 } };
    const later = { ...good, id: crypto.randomUUID(), data: { n: 6 } };
    // Written straight to Redis by something other than the bus: the middle entry is not JSON.
    const goodId = await redis().xadd(stream, "*", { event: JSON.stringify(good) });
    const corruptId = await redis().xadd(stream, "*", { event: '{"specversion":"1.0","id":' });
    const laterId = await redis().xadd(stream, "*", { event: JSON.stringify(later) });
    await vi.waitFor(
      async () => {
        await stub.runRound();
        await sleep(30);
        expect(await redis().get(`example:greeted:${group}:${good.id}`)).toBe(goodId);
        expect(await redis().get(`example:greeted:${group}:${later.id}`)).toBe(laterId);
        expect(await redis().xpending(stream, group, "-", "+", 10)).toEqual([]);
      },
      { timeout: 10_000, interval: 50 },
    );
    const dlq = await (
      await call("GET", `/events/${stream}/dlq?limit=1000`, "admin")
    ).json<{ deadLetters: Array<{ originalId: string; group: string; lastError: string; event: unknown }> }>();
    const letters = dlq.deadLetters.filter((l) => l.group === group);
    expect(letters).toEqual([
      expect.objectContaining({ originalId: corruptId, lastError: "the stored event is not a JSON object", event: null }),
    ]);
  });

  it("dead-letters an always-failing event after maxDeliveries, with its id, payload, deliveries and last error, leaving nothing pending", async () => {
    const { stream, group, id, stub } = await subscribe();
    const e = await publish(stream, { fail: true });
    for (let round = 0; round < 6; round++) {
      await runDurableObjectAlarm(stub);
      await sleep(round === 0 ? 25 : 50 * 2 ** round);
    }
    expect(Object.keys(await hash(`example:deliveries:${group}:${e.id}`)).sort()).toEqual(["1", "2", "3"]);
    const dlq = await (
      await call("GET", `/events/${stream}/dlq?limit=1000`, "admin")
    ).json<{
      deadLetters: Array<{
        originalId: string;
        group: string;
        deliveries: number;
        lastError: string;
        event: { id: string; data: unknown };
      }>;
    }>();
    const letter = dlq.deadLetters.find((l) => l.originalId === e.streamId && l.group === group);
    expect(letter).toMatchObject({ deliveries: 3, event: { id: e.id, data: { fail: true } } });
    expect(letter?.lastError).toContain("asked to fail");
    const status = await (await call("GET", `/subscriptions/${id}`, "admin")).json<{ pending: number; dlqSize: number }>();
    expect(status.pending).toBe(0);
    expect(status.dlqSize).toBeGreaterThan(0);
  });

  it("redrives dead letters back onto the stream with their event ids", async () => {
    const { stream, stub } = await subscribe({ maxDeliveries: 1 });
    const e = await publish(stream, { fail: true });
    await runDurableObjectAlarm(stub);
    await runDurableObjectAlarm(stub);
    const before = await redis().xlen(stream);
    const res = await call("POST", `/events/${stream}/dlq/redrive?limit=1000`, "admin");
    expect(res.status).toBe(202);
    expect((await res.json<{ count: number }>()).count).toBeGreaterThanOrEqual(1);
    expect(await redis().xlen(stream)).toBeGreaterThan(before);
    // Replay from just before the event: other tests publish to this stream too, and from its start the first
    // 1,000 entries need not reach this event.
    const after = `${Number(e.streamId.split("-")[0]) - 1}-0`;
    const replay = await (
      await call("GET", `/events/${stream}?after=${after}&limit=1000`, "read")
    ).json<{ events: Array<{ id: string }> }>();
    expect(replay.events.filter((x) => x.id === e.id).length).toBe(2);
  });
});

describe("subscriptions API", () => {
  it("refuses unknown targets, unsafe URLs, bad names and unknown fields with 400, and a duplicate group with 409", async () => {
    const base = { stream: "example.greetings", group: `g-${crypto.randomUUID().slice(0, 8)}` };
    for (const body of [
      { ...base, target: { service: "nosuch" } },
      { ...base, target: { url: "http://169.254.169.254/latest" } },
      { ...base, target: { url: "ftp://example.com/" } },
      { ...base, stream: "Bad Name", target: { service: "example" } },
      { ...base, target: { service: "example" }, maxDeliveries: 0 },
      { ...base, target: { service: "example" }, owner: "someone" },
    ]) {
      const res = await call("POST", "/subscriptions", "admin", body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
    }
    expect((await call("POST", "/subscriptions", "admin", { ...base, target: { service: "example" } })).status).toBe(201);
    expect((await call("POST", "/subscriptions", "admin", { ...base, target: { service: "example" } })).status).toBe(409);
  });

  it("requires the admin scope", async () => {
    const res = await call("POST", "/subscriptions", "publish", { stream: "s", group: "g", target: { service: "example" } });
    expect(res.status).toBe(403);
  });
});

describe("the service kit's delivery endpoint", () => {
  const deliver = async (headers: Record<string, string>, body: string) =>
    env.EXAMPLE.fetch("https://example.internal/_foundation/events", {
      method: "POST",
      headers: { "content-type": "application/json", ...headers },
      body,
    });
  const body = JSON.stringify({ stream: "example.greetings", group: "g", deliveries: [] });

  it("refuses unsigned, forged and stale deliveries with 401, and deliveries signed for another service", async () => {
    const exampleSecret = await serviceSecret(env.EVENT_SIGNING_SECRET, "example");
    const signed = (secret: string, at = Date.now()) => webhookHeaders([secret], "msg_test", at, body);
    expect((await deliver({}, body)).status).toBe(401);
    expect((await deliver(await signed(newWebhookSecret()), body)).status).toBe(401);
    expect((await deliver(await signed(env.EVENT_SIGNING_SECRET), body)).status).toBe(401);
    expect((await deliver(await signed(await serviceSecret(env.EVENT_SIGNING_SECRET, "billing")), body)).status).toBe(401);
    expect((await deliver(await signed(exampleSecret, Date.now() - 10 * 60_000), body)).status).toBe(401);
    expect((await deliver(await signed(exampleSecret), body)).status).toBe(200);
  });
});
