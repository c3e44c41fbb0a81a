import { env, SELF } from "cloudflare:test";
import { streamEntries } from "@foundation/core";
import { partitionStream } from "@foundation/event-bus";
import { redisFrom } from "@foundation/service-kit";
import { afterEach, describe, expect, it } from "vitest";
import { token } from "./auth.ts";
import { sample } from "./metrics-sample.ts";
import { stackControl } from "./stack.ts";

const api = "http://gw.test/api/foundation";

/** The value of the series of `name` that carries the label `stream` (other labels allowed), or 0. */
async function counter(name: string, stream: string): Promise<number> {
  return sample(await (await SELF.fetch("http://gw.test/metrics")).text(), name, { stream }) ?? 0;
}

/** Sends every body at once, each as its own request. */
async function publishAll(path: string, bodies: unknown[], headers: (i: number) => Record<string, string> = () => ({})) {
  const bearer = `Bearer ${await token("publish")}`;
  return Promise.all(
    bodies.map((body, i) =>
      SELF.fetch(`${api}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: bearer, ...headers(i) },
        body: JSON.stringify(body),
      }),
    ),
  );
}

/** Event id by stream id, as stored. */
async function stored(stream: string): Promise<Map<string, string>> {
  const entries = streamEntries(await redisFrom(env).xrange(stream, "-", "+"));
  return new Map(entries.map((e) => [e.id, (JSON.parse(e.fields.event ?? "{}") as { id: string }).id]));
}

describe("publishes that share a Redis call", () => {
  afterEach(async () => {
    await stackControl("redis/resume");
    await stackControl("redis/start");
  });

  it("answers every concurrent publish with its own event, stored once, in fewer Redis calls than publishes", async () => {
    const topic = `test.shared.${crypto.randomUUID().slice(0, 8)}`;
    const answers = await publishAll(
      `/events/${topic}`,
      Array.from({ length: 20 }, (_, n) => ({ type: "shared", data: { n } })),
    );
    expect(answers.map((r) => r.status)).toEqual(Array(20).fill(202));
    const bodies = await Promise.all(answers.map((r) => r.json<{ id: string; streamId: string }>()));
    const byStreamId = await stored(topic);
    expect(byStreamId.size).toBe(20);
    for (const b of bodies) expect(byStreamId.get(b.streamId)).toBe(b.id);
    expect(new Set(bodies.map((b) => b.id)).size).toBe(20);
    expect(await counter("foundation_events_published_total", topic)).toBe(20);
    const calls = await counter("foundation_events_publish_calls_total", topic);
    expect(calls).toBeGreaterThanOrEqual(1);
    expect(calls).toBeLessThan(20);
  });

  it("places each request's events on their partitions when concurrent batches share a call", async () => {
    const topic = `test.partitioned.${crypto.randomUUID().slice(0, 8)}`;
    const batches = Array.from({ length: 8 }, (_, r) => Array.from({ length: 5 }, (_, n) => ({ type: "p", subject: `s${r}-${n}` })));
    const answers = await publishAll(`/events/${topic}/batch`, batches);
    expect(answers.map((r) => r.status)).toEqual(Array(8).fill(202));
    const bodies = await Promise.all(answers.map((r) => r.json<{ ids: string[]; streamIds: string[]; partitions: number[] }>()));
    const partitions = await Promise.all([0, 1, 2, 3].map((p) => stored(partitionStream(topic, p, 4))));
    expect(partitions.reduce((n, p) => n + p.size, 0)).toBe(40);
    for (const b of bodies) {
      b.ids.forEach((id, i) => expect(partitions[b.partitions[i] ?? -1]?.get(b.streamIds[i] ?? "")).toBe(id));
    }
  });

  it("refuses an event over the size limit alone: the publishes beside it are stored", async () => {
    const topic = `test.shared.${crypto.randomUUID().slice(0, 8)}`;
    const events = Array.from({ length: 10 }, (_, n) => ({ type: "shared", data: n === 5 ? "x".repeat(70_000) : { n } }));
    const answers = await publishAll(`/events/${topic}`, events);
    expect(answers.map((r) => r.status)).toEqual(events.map((_, n) => (n === 5 ? 413 : 202)));
    expect((await stored(topic)).size).toBe(9);
  });

  it("never shares a call between publishes with an Idempotency-Key", async () => {
    const topic = `test.shared.${crypto.randomUUID().slice(0, 8)}`;
    const answers = await publishAll(
      `/events/${topic}`,
      Array.from({ length: 6 }, () => ({ type: "keyed" })),
      (i) => ({ "Idempotency-Key": `${topic}-${i}` }),
    );
    expect(answers.map((r) => r.status)).toEqual(Array(6).fill(202));
    expect(await counter("foundation_events_publish_calls_total", topic)).toBe(6);
    expect((await stored(topic)).size).toBe(6);
  });

  it("keeps every publish waiting on a slow Redis and answers each once it has accepted the shared call", async () => {
    const topic = `test.shared.${crypto.randomUUID().slice(0, 8)}`;
    await stackControl("redis/pause");
    const pending = publishAll(
      `/events/${topic}`,
      Array.from({ length: 10 }, (_, n) => ({ type: "slow", data: { n } })),
    );
    await new Promise((r) => setTimeout(r, 300));
    await stackControl("redis/resume");
    const answers = await pending;
    expect(answers.map((r) => r.status)).toEqual(Array(10).fill(202));
    const bodies = await Promise.all(answers.map((r) => r.json<{ id: string; streamId: string }>()));
    const byStreamId = await stored(topic);
    for (const b of bodies) expect(byStreamId.get(b.streamId)).toBe(b.id);
    expect(byStreamId.size).toBe(10);
    expect(await counter("foundation_events_publish_calls_total", topic)).toBeLessThan(10);
  });

  it("answers every publish of a shared call 503 while Redis is down, and writes none of them", async () => {
    const topic = `test.shared.${crypto.randomUUID().slice(0, 8)}`;
    await stackControl("redis/stop");
    const answers = await publishAll(
      `/events/${topic}`,
      Array.from({ length: 10 }, () => ({ type: "down" })),
    );
    expect(answers.map((r) => r.status)).toEqual(Array(10).fill(503));
    await stackControl("redis/start");
    expect((await stored(topic)).size).toBe(0);
  });
});
