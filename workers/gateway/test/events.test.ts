import { env, SELF } from "cloudflare:test";
import { streamEntries } from "@foundation/core";
import { redisFrom } from "@foundation/service-kit";
import { afterEach, describe, expect, it } from "vitest";
import { stackControl } from "./stack.ts";
import { token } from "./auth.ts";

const newStream = () => `test.events.${crypto.randomUUID().slice(0, 8)}`;
const base = "http://gw.test/api/foundation/events";
const redis = () => redisFrom(env);

async function publish(stream: string, body: unknown, headers: Record<string, string> = {}, path = ""): Promise<Response> {
  return SELF.fetch(`${base}/${stream}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${await token("publish", "producer")}`, ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

async function replay(stream: string, query = ""): Promise<{ events: Array<Record<string, unknown>>; next: string | null }> {
  const res = await SELF.fetch(`${base}/${stream}${query}`, { headers: { authorization: `Bearer ${await token("read", "producer")}` } });
  expect(res.status).toBe(200);
  return res.json();
}

describe("publishing events", () => {
  afterEach(async () => {
    await stackControl("redis/start");
  });

  it("accepts a short event with 202, completes it as a CloudEvent and replays it", async () => {
    const stream = newStream();
    const res = await publish(
      stream,
      { type: "response.received", subject: "brand-1", data: { platform: "chatgpt" } },
      { "X-Correlation-Id": "pub-1" },
    );
    expect(res.status).toBe(202);
    const body = await res.json<{ id: string; streamId: string; duplicate: boolean }>();
    expect(body.duplicate).toBe(false);
    expect(body.streamId).toMatch(/^\d+-\d+$/);
    const { events } = await replay(stream);
    expect(events).toEqual([
      expect.objectContaining({
        streamId: body.streamId,
        id: body.id,
        specversion: "1.0",
        type: "response.received",
        subject: "brand-1",
        source: "/foundation/publishers/producer",
        correlationid: "pub-1",
        data: { platform: "chatgpt" },
      }),
    ]);
  });

  it("answers a publish retried with the same Idempotency-Key exactly as the first time, its event id included", async () => {
    const stream = newStream();
    const first = await (await publish(stream, { type: "t" }, { "Idempotency-Key": "k-1" })).json<{ id: string; streamId: string }>();
    const again = await (
      await publish(stream, { type: "t" }, { "Idempotency-Key": "k-1" })
    ).json<{ id: string; streamId: string; duplicate: boolean }>();
    expect(again).toEqual({ id: first.id, streamId: first.streamId, duplicate: true });
    expect(await redis().xlen(stream)).toBe(1);
    const { events } = await replay(stream);
    expect(events.map((e) => e.id)).toEqual([first.id]);
  });

  it("publishes a batch atomically in order, and answers a retried batch exactly as the first time", async () => {
    const stream = newStream();
    const batch = Array.from({ length: 50 }, (_, i) => ({ type: "n", data: i }));
    const res = await publish(stream, batch, { "Idempotency-Key": "b-1" }, "/batch");
    expect(res.status).toBe(202);
    const body = await res.json<{ ids: string[]; streamIds: string[]; duplicate: boolean }>();
    expect(body.ids).toHaveLength(50);
    const { events } = await replay(stream, "?limit=1000");
    expect(events.map((e) => e.data)).toEqual(batch.map((b) => b.data));
    expect(events.map((e) => e.streamId)).toEqual(body.streamIds);
    expect(events.map((e) => e.id)).toEqual(body.ids);
    const retry = await (await publish(stream, batch, { "Idempotency-Key": "b-1" }, "/batch")).json<typeof body>();
    expect(retry).toEqual({ ...body, duplicate: true });
    expect(await redis().xlen(stream)).toBe(50);
  });

  it("refuses the same Idempotency-Key with another body with 422 and writes nothing, single and batch", async () => {
    const stream = newStream();
    expect((await publish(stream, { type: "t", data: 1 }, { "Idempotency-Key": "r-1" })).status).toBe(202);
    const single = await publish(stream, { type: "t", data: 2 }, { "Idempotency-Key": "r-1" });
    expect(single.status).toBe(422);
    expect(single.headers.get("content-type")).toBe("application/problem+json");
    expect((await single.json<{ type: string }>()).type).toBe("/problems/idempotency-key-reused");
    expect((await publish(stream, [{ type: "t" }, { type: "u" }], { "Idempotency-Key": "r-2" }, "/batch")).status).toBe(202);
    expect((await publish(stream, [{ type: "u" }, { type: "t" }], { "Idempotency-Key": "r-2" }, "/batch")).status).toBe(422);
    expect(await redis().xlen(stream)).toBe(3);
    // The same request with its keys in another order is the same request.
    expect((await publish(stream, '{"data":1,"type":"t"}', { "Idempotency-Key": "r-1" })).status).toBe(202);
    expect(await redis().xlen(stream)).toBe(3);
  });

  it("refuses an Idempotency-Key outside its documented form with a 400 naming the header, single and batch", async () => {
    const stream = newStream();
    for (const [path, body] of [
      ["", { type: "t" }],
      ["/batch", [{ type: "t" }]],
    ] as const) {
      for (const key of ["has space", "x".repeat(256)]) {
        const res = await publish(stream, body, { "Idempotency-Key": key }, path);
        expect(res.status, `${path} ${key.length}`).toBe(400);
        expect(res.headers.get("content-type")).toBe("application/problem+json");
        const problem = await res.json<{ type: string; errors: { pointer: string }[] }>();
        expect(problem.type).toBe("/problems/validation-error");
        expect(problem.errors.map((e) => e.pointer)).toEqual(["/header/idempotency-key"]);
      }
    }
    expect(await redis().xlen(stream)).toBe(0);
    expect((await publish(stream, { type: "t" }, { "Idempotency-Key": "x".repeat(255) })).status).toBe(202);
  });

  it("keeps publishers' keys apart even when a subject or a key contains the separator", async () => {
    const stream = newStream();
    const as = async (subject: string, key: string) =>
      SELF.fetch(`${base}/${stream}`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${await token("publish", subject)}`, "idempotency-key": key },
        body: JSON.stringify({ type: "t", data: subject }),
      });
    const first = await as("team:a", "k");
    const second = await as("team", "a:k");
    expect(first.status).toBe(202);
    expect(second.status).toBe(202);
    expect((await second.json<{ duplicate: boolean }>()).duplicate).toBe(false);
    expect(await redis().xlen(stream)).toBe(2);
  });

  it("answers 503 with Retry-After while Redis is down, and the retried publish after recovery yields one event", async () => {
    const stream = newStream();
    await stackControl("redis/stop");
    const down = await publish(stream, { type: "t" }, { "Idempotency-Key": "outage-1" });
    expect(down.status).toBe(503);
    expect(down.headers.get("Retry-After")).toBe("1");
    expect(down.headers.get("content-type")).toBe("application/problem+json");
    await stackControl("redis/start");
    expect((await publish(stream, { type: "t" }, { "Idempotency-Key": "outage-1" })).status).toBe(202);
    expect((await publish(stream, { type: "t" }, { "Idempotency-Key": "outage-1" })).status).toBe(202);
    expect(await redis().xlen(stream)).toBe(1);
  });

  it("keeps dead letters out of publishers' reach: <stream>.dlq is an ordinary stream and dead-letter streams cannot be named", async () => {
    const stream = newStream();
    const forged = { type: "forged", data: { originalId: "1-0", group: "g", lastError: "x" } };
    expect((await publish(`${stream}.dlq`, forged)).status).toBe(202);
    const letters = await SELF.fetch(`${base}/${stream}/dlq`, { headers: { authorization: `Bearer ${await token("admin")}` } });
    expect((await letters.json<{ deadLetters: unknown[] }>()).deadLetters).toEqual([]);
    for (const name of [`dlq:${stream}`, `${stream}~0`]) {
      const res = await publish(encodeURIComponent(name), { type: "forged" });
      expect(res.status, name).toBe(400);
    }
  });

  it("replays an entry whose text is not a JSON event as a readable entry, not a 500", async () => {
    const stream = newStream();
    const { streamId } = await (await publish(stream, { type: "t" })).json<{ streamId: string }>();
    const bad = await redis().xadd(stream, "*", { event: "not json" });
    const { events } = await replay(stream);
    expect(events).toEqual([
      expect.objectContaining({ streamId, type: "t" }),
      { streamId: bad, unreadable: "the stored event is not a JSON object" },
    ]);
  });

  it("loads the script again after SCRIPT FLUSH (NOSCRIPT falls back to EVAL)", async () => {
    const stream = newStream();
    await redis().scriptFlush();
    expect((await publish(stream, { type: "t" })).status).toBe(202);
    expect(await redis().xlen(stream)).toBe(1);
  });

  it.each([
    ["an invalid stream name", "Bad Stream!", { type: "t" }, 400],
    ["an unknown field", "ok.stream", { type: "t", role: "admin" }, 400],
    ["a missing type", "ok.stream", { data: 1 }, 400],
    ["malformed JSON", "ok.stream", "{", 400],
    ["an event over 64 KiB", "ok.stream", { type: "t", data: "x".repeat(70_000) }, 413],
  ])("refuses %s with a problem and writes nothing", async (_, name, body, status) => {
    const stream = name === "ok.stream" ? newStream() : name;
    const res = await publish(encodeURIComponent(stream), body);
    expect(res.status).toBe(status);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    if (name === "ok.stream") expect(await redis().exists(stream)).toBe(0);
  });

  it("names what is wrong: the stream parameter, the body field, malformed JSON, a body that is not JSON", async () => {
    const problem = async (res: Response) => ({ status: res.status, ...(await res.json<Record<string, unknown>>()) });
    const stream = newStream();
    expect(await problem(await publish("Bad%20Stream", { type: "t" }))).toMatchObject({
      status: 400,
      type: "/problems/validation-error",
      errors: [{ pointer: "/param/stream" }],
    });
    expect(await problem(await publish(stream, [{ type: "t" }, { data: 1 }], {}, "/batch"))).toMatchObject({
      status: 400,
      errors: [{ pointer: "/json/1" }],
    });
    expect(await problem(await publish(stream, "{"))).toMatchObject({ status: 400, detail: "Malformed JSON in request body" });
    expect((await publish(stream, "type=t", { "content-type": "text/plain" })).status).toBe(415);
    const empty = await SELF.fetch(`${base}/${stream}`, {
      method: "POST",
      headers: { authorization: `Bearer ${await token("publish", "producer")}` },
    });
    expect(await problem(empty)).toMatchObject({ status: 400, type: "/problems/validation-error" });
    expect(await redis().exists(stream)).toBe(0);
  });

  it("writes nothing of a batch that holds one invalid event", async () => {
    const stream = newStream();
    const res = await publish(stream, [{ type: "a" }, { type: "b", extra: 1 }], {}, "/batch");
    expect(res.status).toBe(400);
    expect(await redis().exists(stream)).toBe(0);
  });

  it("requires the publish scope to publish and a token to replay", async () => {
    const stream = newStream();
    const noToken = await SELF.fetch(`${base}/${stream}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"type":"t"}',
    });
    expect(noToken.status).toBe(401);
    const readOnly = await SELF.fetch(`${base}/${stream}`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${await token("read", "producer")}` },
      body: '{"type":"t"}',
    });
    expect(readOnly.status).toBe(403);
    expect((await SELF.fetch(`${base}/${stream}`)).status).toBe(401);
    expect(await redis().exists(stream)).toBe(0);
  });
});

describe("replaying events", () => {
  it("pages with after/limit and filters by subject, in order", async () => {
    const stream = newStream();
    const batch = Array.from({ length: 30 }, (_, i) => ({ type: "n", subject: i % 3 === 0 ? "a" : "b", data: i }));
    await publish(stream, batch, {}, "/batch");
    const first = await replay(stream, "?limit=10");
    expect(first.events.map((e) => e.data)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const second = await replay(stream, `?limit=10&after=${first.next}`);
    expect(second.events.map((e) => e.data)).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    const onlyA = await replay(stream, "?subject=a&limit=100");
    expect(onlyA.events.map((e) => e.data)).toEqual([0, 3, 6, 9, 12, 15, 18, 21, 24, 27]);
    expect(onlyA.next).toBeNull();
  });

  it("bounds the work of a replay by subject: about 1 MiB of a long stream per request, with the cursor to go on", async () => {
    const stream = newStream();
    const filler = "x".repeat(1000);
    // 3,000 events of about 1 KB that do not match, then the one that does.
    const writes = redis().pipeline();
    for (let i = 0; i < 3000; i++)
      writes.xadd(stream, "*", {
        event: JSON.stringify({ specversion: "1.0", id: `e${i}`, source: "/t", type: "t", subject: "other", data: filler }),
      });
    writes.xadd(stream, "*", { event: JSON.stringify({ specversion: "1.0", id: "wanted", source: "/t", type: "t", subject: "rare" }) });
    await writes.exec();
    const ids = streamEntries(await redis().xrange(stream, "-", "+", 3001)).map((e) => e.id);
    const first = await replay(stream, "?subject=rare&limit=10");
    expect(first.events).toEqual([]);
    const scanned = ids.indexOf(first.next ?? "") + 1;
    expect(scanned).toBeGreaterThan(500);
    expect(scanned).toBeLessThan(1200);
    const found: unknown[] = [];
    let next = first.next;
    for (let requests = 1; next !== null && requests < 10; requests++) {
      const page = await replay(stream, `?subject=rare&limit=10&after=${next}`);
      found.push(...page.events.map((e) => e.id));
      next = page.next;
    }
    expect(found).toEqual(["wanted"]);
    expect(next).toBeNull();
  });

  it("refuses a malformed cursor", async () => {
    const res = await SELF.fetch(`${base}/${newStream()}?after=abc`, {
      headers: { authorization: `Bearer ${await token("read", "producer")}` },
    });
    expect(res.status).toBe(400);
  });
});
