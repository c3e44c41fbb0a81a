/**
 * A stream that Postgres still names but Redis no longer holds (lost with Redis's data, deleted, evicted) is a state
 * the API reports, never a 500: a subscription's status shows the stream missing, deleting the subscription works,
 * and delivery creates the stream and its group again.
 */
import { env, SELF } from "cloudflare:test";
import { partitionStream } from "@foundation/event-bus";
import { redisFrom } from "@foundation/service-kit";
import { describe, expect, it, vi } from "vitest";
import { token } from "./auth.ts";

// vitest.config.ts gives `test.partitioned.*` four partitions.
const PARTITIONS = 4;
const api = "http://gw.test/api/foundation";
const redis = () => redisFrom(env);

interface Status {
  state: string;
  lag: number | null;
  pending: number;
  streamMissing?: true;
  partitions?: Array<{ partition: number; streamMissing?: true }>;
}

async function call(method: string, path: string, body?: unknown) {
  return SELF.fetch(`${api}${path}`, {
    method,
    headers: { "content-type": "application/json", authorization: `Bearer ${await token("admin")}` },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** Subscribes the example service to `stream` and pauses the subscription, so no delivery round recreates what a test deletes. */
async function pausedSubscription(stream: string): Promise<string> {
  const res = await call("POST", "/subscriptions", { stream, group: "g", target: { service: "example" } });
  expect(res.status).toBe(201);
  const { id } = await res.json<{ id: string }>();
  expect((await call("POST", `/subscriptions/${id}/pause`)).status).toBe(200);
  return id;
}

async function status(id: string): Promise<{ code: number; body: Status }> {
  const res = await call("GET", `/subscriptions/${id}`);
  return { code: res.status, body: await res.json<Status>() };
}

describe("a subscription whose stream is missing from Redis", () => {
  it("answers 200 with lag null, nothing pending and streamMissing; once resumed, delivery creates the stream and its group again", async () => {
    const stream = `test.local-data.${crypto.randomUUID().slice(0, 8)}`;
    const id = await pausedSubscription(stream);
    expect(await redis().del(stream)).toBe(1);

    expect(await status(id)).toEqual({
      code: 200,
      body: expect.objectContaining({ state: "paused", lag: null, pending: 0, streamMissing: true }) as unknown,
    });

    expect((await call("POST", `/subscriptions/${id}/resume`)).status).toBe(200);
    await vi.waitFor(async () => {
      const { code, body } = await status(id);
      expect(code).toBe(200);
      expect(body).toMatchObject({ state: "active", lag: 0, pending: 0 });
      expect(body.streamMissing).toBeUndefined();
    });
  });

  it("shows which partition of a partitioned topic lost its stream, and the topic's status as missing", async () => {
    const topic = `test.partitioned.${crypto.randomUUID().slice(0, 8)}`;
    const id = await pausedSubscription(topic);
    expect(await redis().del(partitionStream(topic, 2, PARTITIONS))).toBe(1);

    const { code, body } = await status(id);
    expect(code).toBe(200);
    expect(body).toMatchObject({ lag: null, streamMissing: true });
    expect(body.partitions?.map((p) => p.streamMissing ?? false)).toEqual([false, false, true, false]);
  });

  it("can be deleted (204), and its id then answers 404", async () => {
    const stream = `test.local-data.${crypto.randomUUID().slice(0, 8)}`;
    const id = await pausedSubscription(stream);
    expect(await redis().del(stream)).toBe(1);

    expect((await call("DELETE", `/subscriptions/${id}`)).status).toBe(204);
    expect((await call("GET", `/subscriptions/${id}`)).status).toBe(404);
  });
});
