import { env, SELF } from "cloudflare:test";
import { ARCHIVER_GROUP, archiverConfig, consumerObjectName } from "@foundation/event-bus";
import { createDb, events } from "@foundation/db";
import { redisFrom } from "@foundation/service-kit";
import { count, eq } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { archiveRow } from "@foundation/event-bus";
import { token } from "./auth.ts";

const api = "http://gw.test/api/foundation/events";
const redis = () => redisFrom(env);
/** The archived streams the test config names exactly: this file takes `test.archived.1` to `.15`, in turn. */
let archivedStreams = 0;
const newStream = () => `test.archived.${++archivedStreams}`;
const archiver = (stream: string) => env.STREAM_CONSUMER.get(env.STREAM_CONSUMER.idFromName(consumerObjectName(stream, ARCHIVER_GROUP)));
const rows = async (stream: string) =>
  (await createDb(env).select({ n: count() }).from(events).where(eq(events.stream, stream)))[0]?.n ?? -1;

async function publishBatch(stream: string, batch: unknown[]): Promise<{ ids: string[]; streamIds: string[] }> {
  const res = await SELF.fetch(`${api}/${stream}/batch`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${await token("publish")}` },
    body: JSON.stringify(batch),
  });
  expect(res.status).toBe(202);
  return res.json();
}

async function replayAll(stream: string, query: string, after?: string): Promise<Array<{ streamId: string; id: string; data: unknown }>> {
  const out: Array<{ streamId: string; id: string; data: unknown }> = [];
  let next: string | null = after ?? null;
  for (let page = 0; page < 20; page++) {
    const res = await SELF.fetch(`${api}/${stream}?limit=7${query}${next ? `&after=${next}` : ""}`, {
      headers: { authorization: `Bearer ${await token("read")}` },
    });
    expect(res.status).toBe(200);
    const body = await res.json<{ events: typeof out; next: string | null }>();
    out.push(...body.events);
    next = body.next;
    if (!next) break;
  }
  return out;
}

/** Runs archiver rounds until `n` events went through it (bounded). */
async function archive(stream: string, n: number): Promise<number> {
  const stub = archiver(stream);
  await stub.ensure(archiverConfig(stream));
  let delivered = 0;
  for (let round = 0; round < 20 && delivered < n; round++) delivered += (await stub.runRound()).delivered;
  return delivered;
}

describe("the event store", () => {
  it("archives every published event exactly once, also when the archiver runs over them again", async () => {
    const stream = newStream();
    const batch = Array.from({ length: 25 }, (_, i) => ({ type: "n", subject: `agg-${i % 2}`, data: { i } }));
    await publishBatch(stream, batch);
    expect(await archive(stream, 25)).toBe(25);
    expect(await rows(stream)).toBe(25);

    await redis().xgroup(stream, { type: "SETID", group: ARCHIVER_GROUP, id: "0" });
    expect(await archive(stream, 25)).toBe(25);
    expect(await rows(stream)).toBe(25);
  });

  it("replays from Postgres what Redis has trimmed, then continues from Redis, in order and by subject", async () => {
    const stream = newStream();
    const first = await publishBatch(
      stream,
      Array.from({ length: 20 }, (_, i) => ({ type: "n", subject: `agg-${i % 2}`, data: i })),
    );
    await archive(stream, 20);
    await redis().xtrim(stream, { strategy: "MAXLEN", exactness: "=", threshold: 0 });
    const second = await publishBatch(
      stream,
      Array.from({ length: 5 }, (_, i) => ({ type: "n", subject: `agg-${i % 2}`, data: 20 + i })),
    );

    const replayed = await replayAll(stream, "");
    expect(replayed.map((e) => e.data)).toEqual(Array.from({ length: 25 }, (_, i) => i));
    expect(replayed.map((e) => e.streamId)).toEqual([...first.streamIds, ...second.streamIds]);
    expect(replayed.map((e) => e.id)).toEqual([...first.ids, ...second.ids]);

    const odd = await replayAll(stream, "&subject=agg-1");
    expect(odd.map((e) => e.data)).toEqual([1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23]);
    const fromMiddle = await replayAll(stream, "", first.streamIds[14]);
    expect(fromMiddle.map((e) => e.data)).toEqual([15, 16, 17, 18, 19, 20, 21, 22, 23, 24]);
  });

  it("fails only the event Postgres refuses, so one bad event does not hold back its batch", async () => {
    const stream = newStream();
    await publishBatch(stream, [
      { type: "n", data: "ok-1" },
      { type: "n", data: "bad \u0000 byte" },
      { type: "n", data: "ok-2" },
    ]);
    const stub = archiver(stream);
    await stub.ensure(archiverConfig(stream));
    const report = await stub.runRound();
    expect(report.delivered + report.failed).toBe(3);
    expect(report.failed).toBe(1);
    expect(await rows(stream)).toBe(2);
  });

  it("starts the archiver of an archived stream on its first publish", async () => {
    const stream = newStream();
    await publishBatch(stream, [{ type: "n" }]);
    let configured = false;
    for (let i = 0; i < 50 && !configured; i++) {
      configured = (await archiver(stream).runRound()).nextRunInMs >= 0;
      if (!configured) await new Promise((r) => setTimeout(r, 20));
    }
    expect(configured).toBe(true);
  });

  it("keys a row by the event's identity and time, falling back to when Redis accepted it", () => {
    const row = archiveRow("s", { streamId: "1700000000000-7", event: { specversion: "1.0", id: "e", source: "/x", type: "t" } });
    expect(row).toMatchObject({ stream: "s", eventId: "e", source: "/x", streamMs: 1_700_000_000_000, streamSeq: 7 });
    expect(row.occurredAt).toEqual(new Date(1_700_000_000_000));
  });

  it("refuses the archiver's group name for a subscription", async () => {
    const res = await SELF.fetch("http://gw.test/api/foundation/subscriptions", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${await token("admin")}` },
      body: JSON.stringify({ stream: "example.greetings", group: ARCHIVER_GROUP, target: { service: "example" } }),
    });
    expect(res.status).toBe(400);
  });
});
