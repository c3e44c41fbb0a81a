import { env, SELF } from "cloudflare:test";
import { createDb, subscriptions } from "@foundation/db";
import {
  consumerObjectName,
  partitionConsumer,
  partitionOfSubject,
  partitionStream,
  SubscriptionInput,
  type SubscriptionConfig,
} from "@foundation/event-bus";
import { redisFrom } from "@foundation/service-kit";
import { describe, expect, it, vi } from "vitest";
import { token } from "./auth.ts";

// vitest.config.ts gives `example.orders` and `test.partitioned.*` four partitions each.
const PARTITIONS = 4;
const api = "http://gw.test/api/foundation";
const redis = () => redisFrom(env);

async function call(method: string, path: string, scope: string, body?: unknown, headers: Record<string, string> = {}) {
  return SELF.fetch(`${api}${path}`, {
    method,
    headers: { "content-type": "application/json", authorization: `Bearer ${await token(scope)}`, ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

interface BatchAnswer {
  ids: string[];
  streamIds: string[];
  partitions: number[];
  duplicate: boolean;
}

async function publishBatch(topic: string, events: unknown[], headers: Record<string, string> = {}): Promise<BatchAnswer> {
  const res = await call("POST", `/events/${topic}/batch`, "publish", events, headers);
  expect(res.status).toBe(202);
  return res.json<BatchAnswer>();
}

/** Five events for each of eight subjects, interleaved: {subject: s<k>, data: {n}} with n counting per subject. */
function orders(): Array<{ type: string; subject: string; data: { n: number } }> {
  return Array.from({ length: 40 }, (_, i) => ({ type: "order.updated", subject: `s${i % 8}`, data: { n: Math.floor(i / 8) } }));
}

/** Subscribes the example service to `example.orders` (four partitions) as a fresh group, with fast retries. */
async function subscribeOrders(overrides: Record<string, unknown> = {}): Promise<{ group: string; id: string }> {
  const group = `g-${crypto.randomUUID().slice(0, 8)}`;
  const res = await call("POST", "/subscriptions", "admin", {
    stream: "example.orders",
    group,
    target: { service: "example" },
    retryBackoffMs: 20,
    ...overrides,
  });
  expect(res.status).toBe(201);
  return { group, id: (await res.json<{ id: string }>()).id };
}

async function lengths(topic: string): Promise<number[]> {
  return Promise.all(Array.from({ length: PARTITIONS }, (_, p) => redis().xlen(partitionStream(topic, p, PARTITIONS))));
}

describe("partitioned topics", () => {
  it("places every event of a subject in its subject's partition, spreads subjects, and writes nothing to the topic's own stream", async () => {
    const topic = `test.partitioned.${crypto.randomUUID().slice(0, 8)}`;
    const events = orders();
    const answer = await publishBatch(topic, events);
    expect(answer.partitions).toEqual(events.map((e) => partitionOfSubject(e.subject, PARTITIONS)));
    expect(new Set(answer.partitions).size).toBeGreaterThan(1);
    expect(answer.streamIds.every((id) => /^\d+-\d+$/.test(id))).toBe(true);
    const perPartition = await lengths(topic);
    expect(perPartition.reduce((a, b) => a + b, 0)).toBe(40);
    expect(perPartition).toEqual(Array.from({ length: PARTITIONS }, (_, p) => answer.partitions.filter((x) => x === p).length));
    expect(await redis().exists(topic)).toBe(0);
  });

  it("replays a subject in publish order from its partition, one partition on request, and refuses to guess otherwise", async () => {
    const topic = `test.partitioned.${crypto.randomUUID().slice(0, 8)}`;
    const answer = await publishBatch(topic, orders());
    const res = await call("GET", `/events/${topic}?subject=s3`, "read");
    expect(res.status).toBe(200);
    const { events } = await res.json<{ events: Array<{ subject: string; data: { n: number } }> }>();
    expect(events.map((e) => [e.subject, e.data.n])).toEqual([0, 1, 2, 3, 4].map((n) => ["s3", n]));

    const partition = answer.partitions[0] ?? 0;
    const one = await (await call("GET", `/events/${topic}?partition=${partition}&limit=1000`, "read")).json<{ events: unknown[] }>();
    expect(one.events).toHaveLength(answer.partitions.filter((p) => p === partition).length);

    const unsure = await call("GET", `/events/${topic}`, "read");
    expect(unsure.status).toBe(400);
    expect(unsure.headers.get("content-type")).toContain("application/problem+json");
    expect((await unsure.json<{ type: string }>()).type).toContain("partition-required");
    expect((await call("GET", `/events/${topic}?partition=${PARTITIONS}`, "read")).status).toBe(400);
    const wrong = (partitionOfSubject("s3", PARTITIONS) + 1) % PARTITIONS;
    expect((await call("GET", `/events/${topic}?subject=s3&partition=${wrong}`, "read")).status).toBe(400);
  });

  it("writes a batch over every partition atomically, and answers its retry exactly as the first time without writing", async () => {
    const topic = `test.partitioned.${crypto.randomUUID().slice(0, 8)}`;
    const events = Array.from({ length: 10 }, (_, n) => ({ type: "tick", data: { n } }));
    const headers = { "idempotency-key": `retry-${crypto.randomUUID()}` };
    const first = await publishBatch(topic, events, headers);
    expect(new Set(first.partitions).size).toBe(PARTITIONS);
    expect((await lengths(topic)).reduce((a, b) => a + b, 0)).toBe(10);
    const retry = await publishBatch(topic, events, headers);
    expect(retry).toEqual({ ...first, duplicate: true });
    expect((await lengths(topic)).reduce((a, b) => a + b, 0)).toBe(10);
  });

  it("refuses the same Idempotency-Key with another batch with 422, writing to no partition", async () => {
    const topic = `test.partitioned.${crypto.randomUUID().slice(0, 8)}`;
    const headers = { "idempotency-key": `reuse-${crypto.randomUUID()}` };
    await publishBatch(topic, [{ type: "tick", subject: "a" }], headers);
    const before = await lengths(topic);
    const other = Array.from({ length: 8 }, (_, n) => ({ type: "tick", subject: `s${n}` }));
    const res = await call("POST", `/events/${topic}/batch`, "publish", other, headers);
    expect(res.status).toBe(422);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect((await res.json<{ type: string }>()).type).toBe("/problems/idempotency-key-reused");
    expect(await lengths(topic)).toEqual(before);
  });

  it("delivers every event of every partition once to a subscribed service, and sums the partitions' status", async () => {
    const { group, id } = await subscribeOrders();
    const answer = await publishBatch("example.orders", orders());
    await vi.waitFor(
      async () => {
        for (const [i, eventId] of answer.ids.entries()) {
          expect(await redis().get(`example:greeted:${group}:${eventId}`)).toBe(answer.streamIds[i]);
        }
      },
      { timeout: 15_000, interval: 100 },
    );
    const deliveries = await Promise.all(answer.ids.map((e) => redis().hkeys(`example:deliveries:${group}:${e}`)));
    expect(deliveries.every((d) => d.length === 1 && d[0] === "1")).toBe(true);
    const status = await (
      await call("GET", `/subscriptions/${id}`, "admin")
    ).json<{
      pending: number;
      lag: number;
      partitions: Array<{ partition: number; stream: string; pending: number }>;
    }>();
    expect(status).toMatchObject({ pending: 0, lag: 0 });
    expect(status.partitions.map((p) => p.stream)).toEqual([0, 1, 2, 3].map((p) => `example.orders~${p}`));
  });

  it("lists dead letters across partitions and redrives them", async () => {
    const { group } = await subscribeOrders({ maxDeliveries: 1 });
    const failing = Array.from({ length: 8 }, (_, i) => ({ type: "order.updated", subject: `dead-${group}-${i}`, data: { fail: true } }));
    const answer = await publishBatch("example.orders", failing);
    expect(new Set(answer.partitions).size).toBeGreaterThan(1);
    type Letters = { deadLetters: Array<{ dlqId: string; partition: number; originalId: string; group: string; event: { id: string } }> };
    let mine: Letters["deadLetters"] = [];
    await vi.waitFor(
      async () => {
        const res = await call("GET", "/events/example.orders/dlq?limit=1000", "admin");
        mine = (await res.json<Letters>()).deadLetters.filter((l) => l.group === group);
        expect(mine).toHaveLength(8);
      },
      { timeout: 15_000, interval: 100 },
    );
    const byId = new Map(mine.map((l) => [l.event.id, l]));
    for (const [i, eventId] of answer.ids.entries()) {
      expect(byId.get(eventId)).toMatchObject({ partition: answer.partitions[i], originalId: answer.streamIds[i] });
    }

    // Redrive publishes each once more (same event ids, by subject to the same partitions) and removes the letters.
    const redrive = await call("POST", "/events/example.orders/dlq/redrive?limit=1000", "admin");
    expect(redrive.status).toBe(202);
    expect((await redrive.json<{ count: number }>()).count).toBeGreaterThanOrEqual(8);
    const after = (await (await call("GET", "/events/example.orders/dlq?limit=1000", "admin")).json<Letters>()).deadLetters;
    const old = new Set(mine.map((l) => `${l.partition}:${l.dlqId}`));
    expect(after.filter((l) => old.has(`${l.partition}:${l.dlqId}`))).toEqual([]);
    const replayed = await (
      await call("GET", `/events/example.orders?subject=dead-${group}-0`, "read")
    ).json<{ events: Array<{ id: string }> }>();
    expect(replayed.events.map((e) => e.id)).toEqual([answer.ids[0], answer.ids[0]]);
  });

  it("starts the consumer of a partition the subscription never had (the topic grew) at the publish, from the partition's beginning", async () => {
    // A subscription stored while example.orders had one partition: only its partition-0 consumer was configured.
    const group = `g-${crypto.randomUUID().slice(0, 8)}`;
    const config: SubscriptionConfig = {
      id: crypto.randomUUID(),
      ...SubscriptionInput.parse({ stream: "example.orders", group, target: { service: "example" }, retryBackoffMs: 20 }),
    };
    await createDb(env)
      .insert(subscriptions)
      .values({ id: config.id, stream: config.stream, groupName: group, config, createdBy: "tester" });
    const first = partitionConsumer(config, 0, PARTITIONS);
    await env.STREAM_CONSUMER.get(env.STREAM_CONSUMER.idFromName(consumerObjectName(first.stream, group))).configure(first);
    // The gateway caches a topic's subscriptions for 5 s per isolate, and the earlier tests published to this topic
    // before the row above existed; a real subscription predates the growth, so wait the cache out.
    await new Promise((r) => setTimeout(r, 5100));
    // Publishes now find four partitions; the consumers of partitions 1-3 exist only once a publish meets them.
    const answer = await publishBatch("example.orders", orders());
    expect(new Set(answer.partitions).size).toBeGreaterThan(1);
    await vi.waitFor(
      async () => {
        for (const [i, eventId] of answer.ids.entries()) {
          expect(await redis().get(`example:greeted:${group}:${eventId}`)).toBe(answer.streamIds[i]);
        }
      },
      { timeout: 15_000, interval: 100 },
    );
  }, 30_000);
});
