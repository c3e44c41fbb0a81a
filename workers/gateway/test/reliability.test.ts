import { env, runInDurableObject, SELF } from "cloudflare:test";
import {
  consumerName,
  consumerObjectName,
  deadLetterStream,
  PENDING_CHECK_MS,
  type ConsumerConfig,
  type StreamConsumer,
} from "@foundation/event-bus";
import { redisFrom } from "@foundation/service-kit";
import { afterEach, describe, expect, it } from "vitest";
import { token } from "./auth.ts";
import { stackControl } from "./stack.ts";

const api = "http://gw.test/api/foundation";
const redis = () => redisFrom(env);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const stubFor = (stream: string, group: string) =>
  env.STREAM_CONSUMER.get(env.STREAM_CONSUMER.idFromName(consumerObjectName(stream, group)));

async function call(method: string, path: string, scope: string, body?: unknown, headers: Record<string, string> = {}) {
  return SELF.fetch(`${api}${path}`, {
    method,
    headers: { "content-type": "application/json", authorization: `Bearer ${await token(scope)}`, ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/**
 * The subscriptions a test made: deleted after it (after Redis is back), so that no group of this file goes on handling
 * and dead-lettering events of `example.greetings` through its alarms while later tests and files run.
 */
const made: string[] = [];
afterEach(async () => {
  for (const id of made.splice(0)) expect([204, 404]).toContain((await call("DELETE", `/subscriptions/${id}`, "admin")).status);
});

/** Creates a subscription that {@link made} deletes after the test. */
async function subscribe(body: Record<string, unknown>): Promise<void> {
  const res = await call("POST", "/subscriptions", "admin", body);
  expect(res.status).toBe(201);
  made.push((await res.json<{ id: string }>()).id);
}

/** A hash as an object (the raw client answers HGETALL with a flat array). */
async function hash(key: string): Promise<Record<string, string>> {
  const flat = ((await redis().hgetall(key)) ?? []) as unknown as string[];
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i] ?? ""] = flat[i + 1] ?? "";
  return out;
}

/** A consumer of a fresh stream whose target is the event store, so deliveries succeed without a subscriber. */
function archivingConsumer(overrides: Partial<ConsumerConfig> = {}): ConsumerConfig {
  const stream = `test.reliability.${crypto.randomUUID().slice(0, 8)}`;
  return {
    id: `test:${stream}`,
    stream,
    group: "g",
    target: { archive: true },
    maxDeliveries: 3,
    batchSize: 100,
    retryBackoffMs: 20,
    maxBackoffMs: 200,
    timeoutMs: 5000,
    startAt: "beginning",
    mode: "batch",
    maxBatchBytes: 1024 * 1024,
    ...overrides,
  };
}

async function append(stream: string, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const event = { specversion: "1.0", id: crypto.randomUUID(), source: "/test", type: "t", data: i };
    ids.push(await redis().xadd(stream, "*", { event: JSON.stringify(event) }));
  }
  return ids;
}

/** Configures a consumer and runs its first round at once, before the alarm that configuring schedules can start one. */
const configureAndRun = (config: ConsumerConfig) =>
  runInDurableObject(stubFor(config.stream, config.group), async (instance: StreamConsumer) => {
    await instance.configure(config);
    return instance.runRound();
  });

const pendingIds = async (stream: string, group: string) =>
  ((await redis().xpending(stream, group, "-", "+", 1000)) as Array<[string]>).map(([id]) => id);

describe("scenario 3: a crash between the dead-letter write and the acknowledgement", () => {
  it("leaves the event pending when the dead letter cannot be written, so it is never lost", async () => {
    const config = archivingConsumer({ maxDeliveries: 1 });
    await redis().xgroup(config.stream, { type: "CREATE", group: "g", id: "0", options: { MKSTREAM: true } });
    const [id] = await append(config.stream, 1);
    await redis().xreadgroup("g", "crashed", config.stream, ">", { count: 1 });
    await redis().set(deadLetterStream(config.stream), "not a stream");

    await expect(configureAndRun(config)).rejects.toThrow(/WRONGTYPE/);
    expect(await pendingIds(config.stream, "g")).toEqual([id]);

    await redis().del(deadLetterStream(config.stream));
    expect((await stubFor(config.stream, config.group).runRound()).deadLettered).toBe(1);
    expect(await pendingIds(config.stream, "g")).toEqual([]);
    expect(await redis().xlen(deadLetterStream(config.stream))).toBe(1);
  });

  it("writes at worst a duplicate dead letter with the same original id, and a redrive publishes the event once", async () => {
    const config = archivingConsumer({ maxDeliveries: 1 });
    await redis().xgroup(config.stream, { type: "CREATE", group: "g", id: "0", options: { MKSTREAM: true } });
    const [id] = await append(config.stream, 1);
    await redis().xreadgroup("g", "crashed", config.stream, ">", { count: 1 });
    // What a consumer that crashed right after its dead-letter write left behind: the letter, and the entry still pending.
    const [entry] = (await redis().xrange(config.stream, id ?? "", id ?? "")) as unknown as Array<[string, string[]]>;
    const event = entry?.[1][1] ?? "";
    await redis().xadd(deadLetterStream(config.stream), "*", { originalId: id ?? "", group: "g", deliveries: "1", lastError: "x", event });
    expect((await configureAndRun(config)).deadLettered).toBe(1);

    expect(await pendingIds(config.stream, "g")).toEqual([]);
    const dlq = await (await call("GET", `/events/${config.stream}/dlq`, "admin")).json<{ deadLetters: Array<{ originalId: string }> }>();
    expect(dlq.deadLetters.map((l) => l.originalId)).toEqual([id, id]);
    const redrive = await call("POST", `/events/${config.stream}/dlq/redrive`, "admin");
    expect(await redrive.json()).toEqual({ count: 1 });
    expect(await redis().xlen(config.stream)).toBe(2);
    expect(await redis().xlen(deadLetterStream(config.stream))).toBe(0);
  });
});

describe("redriving dead letters", () => {
  it("delivers a letter again to the group that dead-lettered it only; the other groups skip it", async () => {
    const g = archivingConsumer();
    const h = { ...g, id: `${g.id}:h`, group: "h" };
    for (const group of ["g", "h"]) await redis().xgroup(g.stream, { type: "CREATE", group, id: "0", options: { MKSTREAM: true } });
    const [id] = await append(g.stream, 1);
    // Group g failed the event for good; group h delivered it.
    const [entry] = (await redis().xrange(g.stream, id ?? "", id ?? "")) as unknown as Array<[string, string[]]>;
    await redis().xadd(deadLetterStream(g.stream), "*", {
      originalId: id ?? "",
      group: "g",
      deliveries: "3",
      lastError: "x",
      event: entry?.[1][1] ?? "",
    });
    await redis().xreadgroup("h", "done", g.stream, ">", { count: 1 });
    await redis().xack(g.stream, "h", [id ?? ""]);
    await redis().xreadgroup("g", "done", g.stream, ">", { count: 1 });
    await redis().xack(g.stream, "g", [id ?? ""]);

    const redrive = await call("POST", `/events/${g.stream}/dlq/redrive`, "admin");
    expect(await redrive.json()).toEqual({ count: 1 });
    expect(await redis().xlen(deadLetterStream(g.stream))).toBe(0);
    expect(await configureAndRun(h)).toMatchObject({ delivered: 0, failed: 0 });
    expect(await pendingIds(g.stream, "h")).toEqual([]);
    expect(await configureAndRun(g)).toMatchObject({ delivered: 1, failed: 0 });
  });
});

describe("scenario 4: a restarted consumer", () => {
  it("first drains its own pending entries, then reads new ones", async () => {
    const config = archivingConsumer({ batchSize: 2 });
    await redis().xgroup(config.stream, { type: "CREATE", group: "g", id: "0", options: { MKSTREAM: true } });
    const old = await append(config.stream, 2);
    const me = consumerName(env.STREAM_CONSUMER.idFromName(consumerObjectName(config.stream, config.group)).toString());
    // The consumer read these, then its object was restarted before it acknowledged them.
    await redis().xreadgroup("g", me, config.stream, ">", { count: 2 });
    const fresh = await append(config.stream, 2);
    await sleep(30);
    const lastDelivered = async () => {
      const [group] = (await redis().xinfo(config.stream, { type: "GROUPS" })) as unknown[][];
      return group?.[group.indexOf("last-delivered-id") + 1];
    };

    expect(await configureAndRun(config)).toMatchObject({ redelivered: 2, delivered: 2 });
    expect(await pendingIds(config.stream, "g")).toEqual([]);
    expect(await lastDelivered()).toBe(old[1]);

    await stubFor(config.stream, config.group).runRound();
    expect(await pendingIds(config.stream, "g")).toEqual([]);
    expect(await lastDelivered()).toBe(fresh[1]);
  });
});

describe("a consumer whose rounds leave nothing pending", () => {
  it("skips reading the pending list, yet still reclaims another consumer's entries within the check interval", async () => {
    const config = archivingConsumer();
    await redis().xgroup(config.stream, { type: "CREATE", group: "g", id: "0", options: { MKSTREAM: true } });
    await append(config.stream, 2);
    expect(await configureAndRun(config)).toMatchObject({ delivered: 2, redelivered: 0 });

    // Entries read by a consumer name that is gone (an object replaced before it acknowledged them).
    const [orphan] = await append(config.stream, 1);
    await redis().xreadgroup("g", "replaced", config.stream, ">", { count: 1 });
    await sleep(30);
    const stub = stubFor(config.stream, config.group);
    expect(await stub.runRound()).toMatchObject({ delivered: 0, redelivered: 0 });
    expect(await pendingIds(config.stream, "g")).toEqual([orphan]);

    // Once the check interval has passed, the next round reads the pending list and takes the orphan over
    // (the object's own alarm may be the round that does it; a call during that round joins it).
    await sleep(PENDING_CHECK_MS);
    await stub.runRound();
    expect(await pendingIds(config.stream, "g")).toEqual([]);
  });
});

describe("scenario 5: a handler slower than the idle timeout", () => {
  it("is not handed the same event twice while it is still running", async () => {
    const stream = "example.greetings";
    const group = `slow-${crypto.randomUUID().slice(0, 8)}`;
    await subscribe({ stream, group, target: { service: "example" }, retryBackoffMs: 20 });
    const res = await call("POST", `/events/${stream}`, "publish", { type: "greeting", data: { delayMs: 400 } });
    const e = await res.json<{ id: string; streamId: string }>();
    const stub = stubFor(stream, group);

    const first = stub.runRound();
    await sleep(150);
    const second = stub.runRound();
    await Promise.all([first, second]);
    await stub.runRound();

    expect(await hash(`example:deliveries:${group}:${e.id}`)).toEqual({ "1": e.streamId });
    expect(await redis().get(`example:greeted:${group}:${e.id}`)).toBe(e.streamId);
  });
});

describe("scenario 7: soak with several producers and consumers, consumer aborts and a Redis restart", () => {
  afterEach(async () => {
    await stackControl("redis/start");
  });

  it("delivers or dead-letters every acknowledged publish, and reports duplicates", { timeout: 90_000 }, async () => {
    const stream = "example.greetings";
    const run = crypto.randomUUID().slice(0, 8);
    const groups = [`soak-a-${run}`, `soak-b-${run}`];
    for (const group of groups) {
      await subscribe({
        stream,
        group,
        target: { service: "example" },
        maxDeliveries: 3,
        batchSize: 50,
        retryBackoffMs: 20,
        maxBackoffMs: 100,
      });
    }
    const acked = new Map<string, boolean>();
    let stop = false;
    let unavailable = 0;

    const producer = async (p: number) => {
      for (let b = 0; !stop && b < 80; b++) {
        const batch = Array.from({ length: 5 }, (_, i) => ({ type: "greeting", data: { soak: run, fail: (b * 5 + i + p) % 23 === 0 } }));
        const key = { "Idempotency-Key": `soak-${run}-${p}-${b}` };
        for (let attempt = 0; attempt < 100; attempt++) {
          const res = await call("POST", `/events/${stream}/batch`, "publish", batch, key);
          if (res.status === 202) {
            const { ids } = await res.json<{ ids: string[] }>();
            ids.forEach((id, i) => acked.set(id, batch[i]?.data.fail ?? false));
            break;
          }
          unavailable++;
          await sleep(50);
        }
      }
    };
    // Stubs of an aborted object are broken, so every call takes a fresh one.
    const consumers = async () => {
      while (!stop) {
        await Promise.allSettled(groups.map((g) => stubFor(stream, g).runRound()));
        if (Math.random() < 0.2) {
          const victim = groups[Math.floor(Math.random() * groups.length)] ?? "";
          await runInDurableObject(stubFor(stream, victim), (_, state) => state.abort("soak: consumer aborted")).catch(() => undefined);
        }
        if (Math.random() < 0.2) {
          await redis()
            .xreadgroup(groups[0] ?? "", `crashed-${run}`, stream, ">", { count: 3 })
            .catch(() => undefined);
        }
        await sleep(10);
      }
    };
    const chaos = async () => {
      await sleep(1500);
      await stackControl("redis/stop");
      await sleep(300);
      await stackControl("redis/start");
      await sleep(1500);
      stop = true;
    };
    await Promise.all([producer(1), producer(2), producer(3), chaos(), consumers()]);

    const settled = async () => {
      const info = (await redis().xinfo(stream, { type: "GROUPS" })) as unknown[][];
      const busy = groups.filter((group) => {
        const g = info.find((x) => x[1] === group) ?? [];
        return Number(g[g.indexOf("pending") + 1]) > 0 || Number(g[g.indexOf("lag") + 1]) > 0;
      });
      await Promise.allSettled(busy.map((g) => stubFor(stream, g).runRound()));
      return busy.length === 0;
    };
    let drained = false;
    for (let i = 0; i < 400 && !drained; i++) {
      drained = await settled();
      if (!drained) await sleep(20);
    }
    expect(drained).toBe(true);

    const letters = ((await redis().xrange(deadLetterStream(stream), "-", "+")) as unknown as Array<[string, string[]]>).map(([, f]) => {
      const at = (name: string) => f[f.indexOf(name) + 1] ?? "";
      return { group: at("group"), id: (JSON.parse(at("event") || "{}") as { id?: string }).id };
    });
    let duplicates = 0;
    const lost: string[] = [];
    for (const group of groups) {
      const dead = new Set(letters.filter((l) => l.group === group).map((l) => l.id));
      const checks = [...acked].map(async ([id, fails]) => {
        const [greeted, deliveries] = await Promise.all([
          redis().get(`example:greeted:${group}:${id}`),
          hash(`example:deliveries:${group}:${id}`),
        ]);
        if (fails ? !dead.has(id) : greeted === null) lost.push(`${group}:${id}`);
        if (!fails && Object.keys(deliveries).length > 1) duplicates++;
      });
      await Promise.all(checks);
    }
    console.log(
      `soak: ${acked.size} events acknowledged, ${unavailable} publishes refused while Redis was down, ${duplicates} duplicate deliveries`,
    );
    expect(acked.size).toBeGreaterThan(50);
    expect(unavailable).toBeGreaterThan(0);
    expect(lost).toEqual([]);
  });
});
