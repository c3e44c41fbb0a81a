import { env, SELF } from "cloudflare:test";
import { publishEvents, toEnvelope, type CloudEvent, type PublishOptions } from "@foundation/event-bus";
import { redisFrom } from "@foundation/service-kit";
import { describe, expect, it } from "vitest";
import { token } from "./auth.ts";

const redis = () => redisFrom(env);
const newStream = (prefix = "test.retention") => `${prefix}.${crypto.randomUUID().slice(0, 8)}`;
let n = 0;
const ctx = { source: "/test", now: Date.now, newId: () => `evt-${++n}` };
const events = (count: number): CloudEvent[] =>
  Array.from({ length: count }, (_, i) => toEnvelope({ type: "t", data: { i, pad: "x".repeat(100) } }, ctx));
/** Publishes with the check on every call, as a busy stream gets it once per interval. */
const publish = (stream: string, count: number, options: PublishOptions) =>
  publishEvents(redis(), stream, events(count), { retentionCheckIntervalMs: 0, ...options });
const ids = async (stream: string, count: number) =>
  ((await redis().xrange(stream, "-", "+", count)) as unknown as Array<[string, string[]]>).map(([id]) => id);
const read = (stream: string, group: string, count: number) => redis().xreadgroup(group, "worker", stream, ">", { count });

describe("retention by length", () => {
  it("trims a stream without groups to about maxLen", async () => {
    const stream = newStream();
    const result = await publish(stream, 500, { retention: { maxLen: 100, archive: false } });
    expect(result.retention?.heldBack).toBe(0);
    expect(result.retention?.trimmed).toBeGreaterThan(300);
    const len = await redis().xlen(stream);
    expect(len).toBeGreaterThanOrEqual(100);
    expect(len).toBeLessThan(200);
  });

  it("never trims entries pending in a group, counts them as held back, and trims once they are acknowledged", async () => {
    const stream = newStream();
    await redis().xgroup(stream, { type: "CREATE", group: "g", id: "$", options: { MKSTREAM: true } });
    await publish(stream, 500, {});
    await read(stream, "g", 300);
    const all = await ids(stream, 500);

    const blocked = await publish(stream, 1, { retention: { maxLen: 100, archive: false } });
    expect(blocked.retention).toEqual({ heldBack: 401, trimmed: 0 });
    expect(await redis().xlen(stream)).toBe(501);

    await redis().xack(stream, "g", all.slice(0, 250));
    const partly = await publish(stream, 1, { retention: { maxLen: 100, archive: false } });
    expect(partly.retention?.heldBack).toBe(152);
    expect(partly.retention?.trimmed).toBeGreaterThan(0);
    const [first] = await ids(stream, 1);
    const stillPending = all.slice(250, 300);
    expect(all.indexOf(first ?? "")).toBeLessThanOrEqual(250);
    for (const id of stillPending) expect(await redis().xrange(stream, id, id)).toHaveLength(1);
  });

  it("keeps entries a group has not read yet, across several groups, until every group has them", async () => {
    const stream = newStream();
    for (const group of ["fast", "slow"]) await redis().xgroup(stream, { type: "CREATE", group, id: "$", options: { MKSTREAM: true } });
    await publish(stream, 400, {});
    await read(stream, "fast", 400);
    await redis().xack(stream, "fast", await ids(stream, 400));

    const held = await publish(stream, 1, { retention: { maxLen: 100, archive: false } });
    expect(held.retention).toEqual({ heldBack: 301, trimmed: 0 });

    await read(stream, "slow", 401);
    await redis().xack(stream, "slow", await ids(stream, 401));
    const released = await publish(stream, 1, { retention: { maxLen: 100, archive: false } });
    expect(released.retention?.heldBack).toBe(0);
    expect(await redis().xlen(stream)).toBeLessThan(250);
  });

  it("checks a stream at most once per interval", async () => {
    const stream = newStream();
    const retention = { maxLen: 10, archive: false };
    const first = await publishEvents(redis(), stream, events(1), { retention });
    const second = await publishEvents(redis(), stream, events(1), { retention });
    expect(first.retention).toEqual({ heldBack: 0, trimmed: 0 });
    expect(second.retention).toBeUndefined();
  });
});

describe("retention by age", () => {
  it("trims entries older than maxAgeSeconds at the injected time, but not past the oldest pending entry", async () => {
    const stream = newStream();
    await redis().xgroup(stream, { type: "CREATE", group: "g", id: "$", options: { MKSTREAM: true } });
    await publish(stream, 300, {});
    await read(stream, "g", 100);
    const all = await ids(stream, 300);
    const later = () => Date.now() + 3_600_000;
    const retention = { maxAgeSeconds: 60, archive: false };

    const blocked = await publish(stream, 1, { retention, now: later });
    expect(blocked.retention).toEqual({ heldBack: 301, trimmed: 0 });

    await redis().xack(stream, "g", all.slice(0, 100));
    const partly = await publish(stream, 1, { retention, now: later });
    expect(partly.retention?.heldBack).toBe(202);
    const [first] = await ids(stream, 1);
    expect(all.indexOf(first ?? "")).toBeLessThanOrEqual(100);

    await read(stream, "g", 1000);
    await redis().xack(stream, "g", await ids(stream, 1000));
    // Only the event just published is left to hold back: at the injected time it is old, and unread.
    const released = await publish(stream, 1, { retention, now: later });
    expect(released.retention?.heldBack).toBe(1);
    expect(await redis().xlen(stream)).toBeLessThan(150);
  });

  it("keeps entries younger than maxAgeSeconds", async () => {
    const stream = newStream();
    await publish(stream, 50, {});
    const result = await publish(stream, 1, { retention: { maxAgeSeconds: 60, archive: false } });
    expect(result.retention).toEqual({ heldBack: 0, trimmed: 0 });
    expect(await redis().xlen(stream)).toBe(51);
  });
});

describe("retention through the gateway", () => {
  it("applies STREAM_RETENTION, logs nothing lost, and exposes held-back entries as a metric", async () => {
    const stream = newStream("test.retained");
    await redis().xgroup(stream, { type: "CREATE", group: "g", id: "$", options: { MKSTREAM: true } });
    const batch = Array.from({ length: 300 }, (_, i) => ({ type: "t", data: i }));
    const res = await SELF.fetch(`http://gw.test/api/foundation/events/${stream}/batch`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${await token("publish")}` },
      body: JSON.stringify(batch),
    });
    expect(res.status).toBe(202);
    expect(await redis().xlen(stream)).toBe(300);
    const metrics = await (await SELF.fetch("http://gw.test/metrics")).text();
    const series = metrics
      .split("\n")
      .find((l) => l.startsWith("foundation_stream_retention_held_back{") && l.includes(`stream="${stream}"`));
    expect(series?.split(" ").at(-1)).toBe("200");
  });
});
