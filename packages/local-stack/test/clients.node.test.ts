/**
 * The stack's Upstash and Neon endpoints driven by the real @upstash/redis and @neondatabase/serverless
 * clients in Node (the workerd project's test/workerd/upstash-protocol.test.ts does the same for Upstash
 * inside workerd, with fewer variations).
 */
import { NeonDbError, Pool, neon, type NeonQueryFunction } from "@neondatabase/serverless";
import { Redis } from "@upstash/redis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import ws from "ws";
import type { LocalStack } from "../src/index.ts";
import { failsFast, key, neonClient, startTestStack, upstashClients } from "./helpers.ts";

let stack: LocalStack;
let raw: Redis;
let redis: Redis;
let plain: Redis;
let sql: NeonQueryFunction<false, false>;

beforeAll(async () => {
  stack = await startTestStack();
  ({ raw, redis, plain } = upstashClients(stack));
  sql = neonClient(stack);
  await sql`create table if not exists smoke_items (id serial primary key, name text not null, at timestamptz default now())`;
});
afterAll(() => stack?.stop());

/** What `p` rejects with; undefined if it resolves. */
const rejection = (p: PromiseLike<unknown>): Promise<unknown> =>
  Promise.resolve(p).then(
    () => undefined,
    (e: unknown) => e,
  );

describe("Upstash endpoint with @upstash/redis in Node", () => {
  it("answers a wrong token with 401 {error}, and the client fails within 1 s", async () => {
    const r = await fetch(stack.upstash.url, { method: "POST", body: '["PING"]', headers: { authorization: "Bearer nope" } });
    expect(r.status).toBe(401);
    expect(((await r.json()) as { error?: unknown }).error).toBeTypeOf("string");
    const bad = new Redis({ url: stack.upstash.url, token: "nope", retry: false });
    await failsFast(() => bad.get("x"), 1000, "client with a wrong token");
  });

  it("returns base64-, status- and JSON-looking strings byte for byte, with and without base64 encoding, and null when missing", async () => {
    const values = ["PONG", "OK", "abcd", "aGVsbG8=", '{"a":1}', "123", "", "ünïcødé ✓ 🚀", "line\nbreak", "null", "true"];
    for (const v of values) {
      const k = key("s");
      expect(await raw.set(k, v), `SET ${JSON.stringify(v)}`).toBe("OK");
      expect(await raw.get(k), `GET ${JSON.stringify(v)}`).toBe(v);
      expect(await plain.get(k), `GET without base64 ${JSON.stringify(v)}`).toBe(v);
    }
    expect(await raw.ping()).toBe("PONG");
    expect(await raw.get(key("missing"))).toBe(null);
  });

  it("deserialises JSON-looking values with the client's defaults, also for an auto-pipelined batch", async () => {
    const k1 = key("j");
    await redis.set(k1, '{"a":1}');
    expect(await redis.get(k1)).toEqual({ a: 1 });
    const k2 = key("n");
    await redis.set(k2, "123");
    expect(await redis.get(k2)).toBe(123);
    const k3 = key("o");
    await redis.set(k3, { b: [1, "x"] });
    expect(await redis.get(k3)).toEqual({ b: [1, "x"] });
    expect(await redis.incr(key("ctr"))).toBe(1);
    // Concurrent calls leave as one request to /pipeline (the client's auto-pipelining).
    const k4 = key("ap");
    expect(await Promise.all([redis.set(k4, "PONG"), redis.get(k4), redis.exists(k4)])).toEqual(["OK", "PONG", 1]);
  });

  it("returns HGETALL as a flat array raw and as an object by default, and ZRANGE WITHSCORES as strings raw and numbers by default", async () => {
    const h = key("h");
    expect(await raw.hset(h, { f1: "v1", f2: "PONG", f3: "aGVsbG8=" })).toBe(3);
    expect(await raw.hgetall(h)).toEqual(["f1", "v1", "f2", "PONG", "f3", "aGVsbG8="]);
    expect(await redis.hgetall(h)).toEqual({ f1: "v1", f2: "PONG", f3: "aGVsbG8=" });
    expect(await raw.hget(h, "f2")).toBe("PONG");
    const z = key("z");
    expect(await raw.zadd(z, { score: 2, member: "b" }, { score: 1.5, member: "a" })).toBe(2);
    expect(await raw.zrange(z, 0, -1, { withScores: true })).toEqual(["a", "1.5", "b", "2"]);
    expect(await redis.zrange(z, 0, -1, { withScores: true })).toEqual(["a", 1.5, "b", 2]);
  });

  it("serves a consumer group's stream commands like Redis, and refuses XREADGROUP BLOCK with 400", async () => {
    const st = key("stream");
    expect(await raw.xgroup(st, { type: "CREATE", group: "g", id: "$", options: { MKSTREAM: true } })).toBe("OK");
    const id1 = await raw.xadd(st, "*", { type: "a", data: '{"x":1}' });
    const id2 = await raw.xadd(st, "*", { type: "b", data: "aGVsbG8=" });
    expect(String(id1)).toMatch(/^\d+-\d+$/);
    expect(String(id2)).toMatch(/^\d+-\d+$/);
    expect(await raw.xlen(st)).toBe(2);
    const read = (await raw.xreadgroup("g", "c1", st, ">", { count: 10 })) as [string, [string, string[]][]][];
    expect(read[0]?.[0]).toBe(st);
    expect(read[0]?.[1].map(([id]) => id)).toEqual([id1, id2]);
    expect(read[0]?.[1][0]?.[1]).toEqual(["type", "a", "data", '{"x":1}']);
    expect(read[0]?.[1][1]?.[1]).toEqual(["type", "b", "data", "aGVsbG8="]);
    const pending = (await raw.xpending(st, "g", "-", "+", 10)) as [string, string, number, number][];
    expect(pending.map((p) => [p[0], p[1], p[3]])).toEqual([
      [id1, "c1", 1],
      [id2, "c1", 1],
    ]);
    const claimed = (await raw.xautoclaim(st, "g", "c2", 0, "0-0", { count: 10 })) as [string, [string, string[]][], string[]];
    expect(claimed[0]).toBe("0-0");
    expect(claimed[1].map(([id]) => id)).toEqual([id1, id2]);
    expect(await raw.xack(st, "g", [id1, id2])).toBe(2);
    const g = ((await raw.xinfo(st, { type: "GROUPS" })) as unknown[][])[0]!;
    expect(g[g.indexOf("name") + 1]).toBe("g");
    expect(g[g.indexOf("pending") + 1]).toBe(0);
    const rawRange = (await raw.xrange(st, "-", "+")) as unknown as [string, string[]][];
    expect(rawRange.map(([id]) => id)).toEqual([id1, id2]);
    const range = await redis.xrange(st, "-", "+");
    expect(Object.keys(range)).toEqual([id1, id2]);
    expect(range[String(id1)], "JSON field parsed").toEqual({ type: "a", data: { x: 1 } });
    expect(range[String(id2)]).toEqual({ type: "b", data: "aGVsbG8=" });
    const blocked = await fetch(stack.upstash.url, {
      method: "POST",
      headers: { authorization: `Bearer ${stack.upstash.token}` },
      body: JSON.stringify(["XREADGROUP", "GROUP", "g", "c1", "BLOCK", 100, "STREAMS", st, ">"]),
    });
    expect(blocked.status).toBe(400);
  });

  it("runs EVAL and SCRIPT LOAD + EVALSHA, reports NOSCRIPT, and lets Script.exec fall back from EVALSHA to EVAL", async () => {
    const script = "return {KEYS[1], ARGV[1], tonumber(ARGV[2]) + 1, redis.call('SET', KEYS[1], ARGV[1])}";
    const k = key("ev");
    expect(await raw.eval(script, [k], ["PONG", "41"])).toEqual([k, "PONG", 42, "OK"]);
    const sha = await raw.scriptLoad(script);
    expect(sha).toMatch(/^[0-9a-f]{40}$/);
    expect(await raw.evalsha(sha, [k], ["aGVsbG8=", "1"])).toEqual([k, "aGVsbG8=", 2, "OK"]);
    await expect(raw.evalsha("0".repeat(40), [], [])).rejects.toThrow(/NOSCRIPT/);
    expect(await redis.createScript<number>("return tonumber(ARGV[1]) * 2").exec([], ["21"])).toBe(42);
  });

  it("executes pipeline() and multi() in order, reports a failing command in place or as the thrown error", async () => {
    const k = key("p");
    expect(await raw.pipeline().set(k, "1").incr(k).get(k).hset(key("ph"), { a: "PONG" }).exec()).toEqual(["OK", 2, "2", 1]);
    const m = key("m");
    expect(await raw.multi().set(m, "abcd").append(m, "!").get(m).exec()).toEqual(["OK", 5, "abcd!"]);
    const bad = key("bad");
    await raw.set(bad, "notanumber");
    const kept = await raw.pipeline().incr(bad).get(bad).exec({ keepErrors: true });
    expect(kept[0]?.error).toMatch(/not an integer/);
    expect(kept[1], "entry after the error").toEqual({ result: "notanumber", error: undefined });
    await expect(raw.pipeline().incr(bad).get(bad).exec()).rejects.toThrow(/Command 1 \[ incr \] failed/);
    await expect(raw.incr(bad)).rejects.toThrow(/not an integer/);
  });

  it("counts commands by name and requests, resets them to zero, and serves the same counts on GET /stats", async () => {
    stack.resetStats();
    for (let i = 0; i < 11; i++) await raw.set(key("x"), String(i));
    const st = key("counted");
    await raw.xadd(st, "*", { n: "1" });
    await raw.xadd(st, "*", { n: "2" });
    expect(stack.stats()).toEqual({ upstashCommands: { SET: 11, XADD: 2 }, upstashRequests: 13 });
    stack.resetStats();
    await raw.set(key("x"), "1");
    const after = stack.stats();
    expect(after).toEqual({ upstashCommands: { SET: 1 }, upstashRequests: 1 });
    const viaControl: unknown = await (
      await fetch(`${stack.control.url}/stats`, { headers: { authorization: `Bearer ${stack.control.token}` } })
    ).json();
    expect(viaControl).toEqual(after);
  });
});

describe("Neon endpoint with @neondatabase/serverless in Node", () => {
  it("returns parameters and columns of every common type parsed as neon() parses Neon's, and fullResults in array mode", async () => {
    const at = new Date("2026-01-02T03:04:05.678Z");
    const rows = await sql`select ${41}::int + 1 as i, ${"PONG"}::text as t, ${JSON.stringify({ a: [1, "x"] })}::jsonb as j,
      ${at.toISOString()}::timestamptz as ts, ${true}::bool as b, null::text as n, ${[1, 2, 3]}::int[] as arr,
      ${"abc"} as untyped, 12345678901234::bigint as big, 1.5::numeric as num`;
    const r = rows[0]!;
    expect(r.i).toBe(42);
    expect(r.t).toBe("PONG");
    expect(r.j).toEqual({ a: [1, "x"] });
    expect(r.ts).toBeInstanceOf(Date);
    expect((r.ts as Date).getTime()).toBe(at.getTime());
    expect(r.b).toBe(true);
    expect(r.n).toBe(null);
    expect(r.arr).toEqual([1, 2, 3]);
    expect(r.untyped).toBe("abc");
    expect(r.big, "bigint stays text").toBe("12345678901234");
    expect(r.num, "numeric stays text").toBe("1.5");
    const full = await sql.query("select 1 as one", [], { fullResults: true, arrayMode: true });
    expect([full.command, full.rowCount, full.rows, full.fields[0]?.name, full.fields[0]?.dataTypeID]).toEqual([
      "SELECT",
      1,
      [[1]],
      "one",
      23,
    ]);
  });

  it("runs sql.transaction() as one transaction: commits together, rolls back on a failure (23502), refuses writes when read-only (25006)", async () => {
    const [ins, cnt] = await sql.transaction(
      [sql`insert into smoke_items (name) values (${"a"}), (${"b"}) returning id`, sql`select count(*)::int as c from smoke_items`],
      { isolationLevel: "Serializable", readOnly: false },
    );
    expect(ins).toHaveLength(2);
    expect((cnt as { c: number }[])[0]?.c).toBeGreaterThanOrEqual(2);
    const count = async () => (await sql`select count(*)::int as c from smoke_items`)[0]!.c as number;
    const before = await count();
    const failed = await rejection(
      sql.transaction([sql`insert into smoke_items (name) values ('c')`, sql`insert into smoke_items (name) values (null)`]),
    );
    expect(failed).toBeInstanceOf(NeonDbError);
    expect(failed, "not-null violation").toMatchObject({ code: "23502" });
    expect(await count(), "rolled back").toBe(before);
    const readOnly = await rejection(sql.transaction([sql`insert into smoke_items (name) values ('ro')`], { readOnly: true }));
    expect(readOnly).toBeInstanceOf(NeonDbError);
    expect(readOnly, "read-only transaction").toMatchObject({ code: "25006" });
  });

  it("turns a syntax error into a NeonDbError with code 42601, its position and severity", async () => {
    const err = await rejection(sql`selec 1`);
    expect(err).toBeInstanceOf(NeonDbError);
    const e = err as NeonDbError;
    expect([e.code, e.position, e.severity]).toEqual(["42601", "1", "ERROR"]);
    expect(e.message).toMatch(/syntax error/);
  });

  it("refuses a connection string to a non-loopback host with a NeonDbError naming loopback", async () => {
    const remote = neon(stack.neon.databaseUrl.replace("127.0.0.1", "10.1.2.3"));
    const err = await rejection(remote`select 1`);
    expect(err).toBeInstanceOf(NeonDbError);
    expect((err as Error).message).toMatch(/loopback/);
  });

  it("runs a Pool over the WebSocket relay (SCRAM login): a committed insert is visible over HTTP, and errors keep their code", async () => {
    const pool = new Pool({ connectionString: stack.neon.databaseUrl, max: 2 });
    try {
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        const r = await client.query<{ id: number }>("insert into smoke_items (name) values ($1) returning id", ["ws"]);
        await client.query("COMMIT");
        expect(r.rows[0]?.id).toBeTypeOf("number");
        const back = await client.query<{ name: string; at: unknown }>("select name, at from smoke_items where id = $1", [r.rows[0]!.id]);
        expect(back.rows[0]?.name).toBe("ws");
        expect(back.rows[0]?.at, "timestamptz parsed").toBeInstanceOf(Date);
      } finally {
        client.release();
      }
      expect((await sql`select count(*)::int as c from smoke_items where name = 'ws'`)[0]?.c).toBe(1);
      await expect(pool.query("select * from no_such_table")).rejects.toMatchObject({ code: "42P01" });
    } finally {
      await pool.end();
    }
  });

  it("refuses to relay a WebSocket to a non-loopback address with 403", async () => {
    const outcome = await new Promise<string>((res) => {
      const sock = new ws(`ws://${stack.neon.wsProxy}?address=8.8.8.8:5432`);
      sock.on("unexpected-response", (_req, resp) => res(String(resp.statusCode)));
      sock.on("open", () => res("open"));
      sock.on("error", (e) => res(`error ${e.message}`));
    });
    expect(outcome).toBe("403");
  });
});
