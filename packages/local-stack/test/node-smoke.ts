/**
 * Node-side end-to-end check of @foundation/local-stack with the REAL clients:
 *   npx tsx packages/local-stack/test/node-smoke.ts
 * Starts the stack (profile "test"), exercises @upstash/redis and @neondatabase/serverless (HTTP and
 * WebSocket Pool), stops/restarts redis-server and PostgreSQL, stops everything and checks that no
 * server process of the data folder remains. Prints PASS/FAIL per step; exits 1 on any failure.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "@upstash/redis";
import { NeonDbError, Pool, neon, neonConfig } from "@neondatabase/serverless";
import ws from "ws";
import { startLocalStack, stackInfo, type LocalStack } from "../src/index.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const results: { name: string; ok: boolean; ms: number; detail?: string }[] = [];
const verbose = process.argv.includes("--verbose");

function assert(cond: unknown, msg: string): asserts cond {
  if (!cond) throw new Error(msg);
}
function eq(actual: unknown, expected: unknown, what: string): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
}

async function step(name: string, fn: () => Promise<string | void>): Promise<void> {
  const t0 = performance.now();
  try {
    const detail = await fn();
    const ms = performance.now() - t0;
    results.push({ name, ok: true, ms, ...(detail ? { detail } : {}) });
    console.log(`PASS  ${name} (${ms.toFixed(0)} ms)${detail ? ` — ${detail}` : ""}`);
  } catch (e) {
    const ms = performance.now() - t0;
    const detail = e instanceof Error ? (verbose ? (e.stack ?? e.message) : e.message) : String(e);
    results.push({ name, ok: false, ms, detail });
    console.log(`FAIL  ${name} (${ms.toFixed(0)} ms) — ${detail}`);
  }
}

/** Asserts that `fn` rejects within `maxMs`; returns the error. */
async function failsFast(fn: () => Promise<unknown>, maxMs: number, what: string): Promise<{ err: unknown; ms: number }> {
  const t0 = performance.now();
  let err: unknown;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  const ms = performance.now() - t0;
  assert(err !== undefined, `${what}: expected an error, the call succeeded`);
  assert(ms < maxMs, `${what}: took ${ms.toFixed(0)} ms (limit ${maxMs} ms)`);
  return { err, ms };
}

/** Processes whose command line mentions `needle` (Linux /proc). */
function processesMatching(needles: string[]): string[] {
  const out: string[] = [];
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    let cmd = "";
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ").trim();
    } catch {
      continue;
    }
    if (Number(pid) !== process.pid && needles.some((n) => cmd.includes(n))) out.push(`${pid}: ${cmd}`);
  }
  return out;
}

function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[1]) === ppid) out.push(Number(pid));
    } catch {
      /* gone */
    }
  }
  return out;
}

const key = (name: string) => `smoke:${Date.now().toString(36)}:${Math.random().toString(36).slice(2, 8)}:${name}`;

async function main(): Promise<number> {
  let stack: LocalStack | undefined;
  const tStart = performance.now();
  await step("start stack (profile test)", async () => {
    stack = await startLocalStack({ root, profile: "test", log: (l) => console.log(`      ${l}`) });
    return `${((performance.now() - tStart) / 1000).toFixed(2)} s; ${JSON.stringify(stackInfo(stack))}`;
  });
  if (!stack) return report();
  const s = stack;

  // --- Upstash -------------------------------------------------------------------------------
  const raw = new Redis({ url: s.upstash.url, token: s.upstash.token, automaticDeserialization: false });
  const redis = new Redis({ url: s.upstash.url, token: s.upstash.token });
  const plain = new Redis({ url: s.upstash.url, token: s.upstash.token, responseEncoding: false, automaticDeserialization: false });

  await step("upstash: wrong token is rejected (401)", async () => {
    const bad = new Redis({ url: s.upstash.url, token: "nope", retry: false });
    const r = await fetch(s.upstash.url, { method: "POST", body: '["PING"]', headers: { authorization: "Bearer nope" } });
    eq(r.status, 401, "status");
    const body = (await r.json()) as { error?: string };
    assert(typeof body.error === "string", "401 body has {error}");
    await failsFast(() => bad.get("x"), 1000, "client with bad token");
  });

  await step("upstash: SET/GET of base64-looking, status-looking and JSON-looking strings (raw)", async () => {
    const values = ["PONG", "OK", "abcd", "aGVsbG8=", '{"a":1}', "123", "", "ünïcødé ✓ 🚀", "line\nbreak", "null", "true"];
    for (const v of values) {
      const k = key("s");
      eq(await raw.set(k, v), "OK", `SET ${JSON.stringify(v)}`);
      eq(await raw.get(k), v, `GET ${JSON.stringify(v)}`);
      eq(await plain.get(k), v, `GET without base64 ${JSON.stringify(v)}`);
    }
    eq(await raw.ping(), "PONG", "PING");
    eq(await raw.get(key("missing")), null, "GET missing");
  });

  await step("upstash: default client deserialises JSON-looking values", async () => {
    const k1 = key("j");
    await redis.set(k1, '{"a":1}');
    eq(await redis.get(k1), { a: 1 }, "GET json");
    const k2 = key("n");
    await redis.set(k2, "123");
    eq(await redis.get(k2), 123, "GET number-like");
    const k3 = key("o");
    await redis.set(k3, { b: [1, "x"] });
    eq(await redis.get(k3), { b: [1, "x"] }, "GET object");
    eq(await redis.incr(key("ctr")), 1, "INCR");
    // concurrent calls go through the client's auto-pipelining → /pipeline
    const k4 = key("ap");
    const [a, b, c] = await Promise.all([redis.set(k4, "PONG"), redis.get(k4), redis.exists(k4)]);
    eq([a, b, c], ["OK", "PONG", 1], "auto-pipelined batch");
  });

  await step("upstash: HSET/HGETALL, ZADD/ZRANGE WITHSCORES", async () => {
    const h = key("h");
    eq(await raw.hset(h, { f1: "v1", f2: "PONG", f3: "aGVsbG8=" }), 3, "HSET");
    // automaticDeserialization:false returns Redis' flat array (as real Upstash does); the default client an object
    eq(await raw.hgetall(h), ["f1", "v1", "f2", "PONG", "f3", "aGVsbG8="], "HGETALL (raw)");
    eq(await redis.hgetall(h), { f1: "v1", f2: "PONG", f3: "aGVsbG8=" }, "HGETALL (default client)");
    eq(await raw.hget(h, "f2"), "PONG", "HGET");
    const z = key("z");
    eq(await raw.zadd(z, { score: 2, member: "b" }, { score: 1.5, member: "a" }), 2, "ZADD");
    eq(await raw.zrange(z, 0, -1, { withScores: true }), ["a", "1.5", "b", "2"], "ZRANGE WITHSCORES");
    eq(await redis.zrange(z, 0, -1, { withScores: true }), ["a", 1.5, "b", 2], "ZRANGE WITHSCORES (deserialised)");
  });

  await step("upstash: streams XADD/XGROUP/XREADGROUP/XACK/XPENDING/XAUTOCLAIM/XRANGE/XLEN/XINFO", async () => {
    const st = key("stream");
    eq(await raw.xgroup(st, { type: "CREATE", group: "g", id: "$", options: { MKSTREAM: true } }), "OK", "XGROUP CREATE MKSTREAM");
    const id1 = await raw.xadd(st, "*", { type: "a", data: '{"x":1}' });
    const id2 = await raw.xadd(st, "*", { type: "b", data: "aGVsbG8=" });
    assert(/^\d+-\d+$/.test(String(id1)) && /^\d+-\d+$/.test(String(id2)), `XADD ids ${id1} ${id2}`);
    eq(await raw.xlen(st), 2, "XLEN");
    const read = (await raw.xreadgroup("g", "c1", st, ">", { count: 10 })) as [string, [string, string[]][]][];
    eq(read[0]?.[0], st, "XREADGROUP stream name");
    eq(
      read[0]?.[1].map(([id]) => id),
      [id1, id2],
      "XREADGROUP ids",
    );
    eq(read[0]?.[1][0]?.[1], ["type", "a", "data", '{"x":1}'], "XREADGROUP fields 1");
    eq(read[0]?.[1][1]?.[1], ["type", "b", "data", "aGVsbG8="], "XREADGROUP fields 2");
    const pending = (await raw.xpending(st, "g", "-", "+", 10)) as [string, string, number, number][];
    eq(
      pending.map((p) => [p[0], p[1], p[3]]),
      [
        [id1, "c1", 1],
        [id2, "c1", 1],
      ],
      "XPENDING",
    );
    const claimed = (await raw.xautoclaim(st, "g", "c2", 0, "0-0", { count: 10 })) as [string, [string, string[]][], string[]];
    eq(claimed[0], "0-0", "XAUTOCLAIM cursor");
    eq(
      claimed[1].map(([id]) => id),
      [id1, id2],
      "XAUTOCLAIM ids",
    );
    eq(await raw.xack(st, "g", [id1, id2]), 2, "XACK");
    const groups = (await raw.xinfo(st, { type: "GROUPS" })) as unknown[][];
    const g = groups[0]!;
    eq(g[g.indexOf("name") + 1], "g", "XINFO GROUPS name");
    eq(g[g.indexOf("pending") + 1], 0, "XINFO GROUPS pending");
    const rawRange = (await raw.xrange(st, "-", "+")) as unknown as [string, string[]][];
    eq(
      rawRange.map(([id]) => id),
      [id1, id2],
      "XRANGE ids (raw)",
    );
    const range = await redis.xrange(st, "-", "+");
    eq(Object.keys(range), [id1, id2], "XRANGE ids (default client)");
    eq(range[String(id1)], { type: "a", data: { x: 1 } }, "XRANGE fields (JSON parsed)");
    eq(range[String(id2)], { type: "b", data: "aGVsbG8=" }, "XRANGE fields");
    // Blocking reads are refused like Upstash does.
    const blocked = await fetch(s.upstash.url, {
      method: "POST",
      headers: { authorization: `Bearer ${s.upstash.token}` },
      body: JSON.stringify(["XREADGROUP", "GROUP", "g", "c1", "BLOCK", 100, "STREAMS", st, ">"]),
    });
    eq(blocked.status, 400, "XREADGROUP BLOCK status");
  });

  await step("upstash: EVAL, SCRIPT LOAD + EVALSHA, NOSCRIPT", async () => {
    const script = "return {KEYS[1], ARGV[1], tonumber(ARGV[2]) + 1, redis.call('SET', KEYS[1], ARGV[1])}";
    const k = key("ev");
    eq(await raw.eval(script, [k], ["PONG", "41"]), [k, "PONG", 42, "OK"], "EVAL");
    const sha = await raw.scriptLoad(script);
    assert(/^[0-9a-f]{40}$/.test(sha), `SCRIPT LOAD sha ${sha}`);
    eq(await raw.evalsha(sha, [k], ["aGVsbG8=", "1"]), [k, "aGVsbG8=", 2, "OK"], "EVALSHA");
    let err: unknown;
    await raw.evalsha("0".repeat(40), [], []).catch((e: unknown) => void (err = e));
    assert(err instanceof Error && /NOSCRIPT/.test(err.message), `NOSCRIPT error, got ${String(err)}`);
    const sc = redis.createScript<number>("return tonumber(ARGV[1]) * 2");
    eq(await sc.exec([], ["21"]), 42, "Script.exec (EVALSHA→EVAL fallback)");
  });

  await step("upstash: pipeline() and multi() exec, error inside a pipeline", async () => {
    const k = key("p");
    const r1 = await raw.pipeline().set(k, "1").incr(k).get(k).hset(key("ph"), { a: "PONG" }).exec();
    eq(r1, ["OK", 2, "2", 1], "pipeline");
    const m = key("m");
    const r2 = await raw.multi().set(m, "abcd").append(m, "!").get(m).exec();
    eq(r2, ["OK", 5, "abcd!"], "multi");
    const bad = key("bad");
    await raw.set(bad, "notanumber");
    const r3 = await raw.pipeline().incr(bad).get(bad).exec({ keepErrors: true });
    assert(typeof r3[0]?.error === "string" && /not an integer/.test(r3[0].error), `pipeline error entry: ${JSON.stringify(r3[0])}`);
    eq(r3[1], { result: "notanumber", error: undefined }, "entry after the error");
    let thrown: unknown;
    await raw
      .pipeline()
      .incr(bad)
      .get(bad)
      .exec()
      .catch((e: unknown) => void (thrown = e));
    assert(thrown instanceof Error && /Command 1 \[ incr \] failed/.test(thrown.message), `pipeline exec throws: ${String(thrown)}`);
    // a single failing command → UpstashError
    let single: unknown;
    await raw.incr(bad).catch((e: unknown) => void (single = e));
    assert(single instanceof Error && /not an integer/.test(single.message), `single command error: ${String(single)}`);
  });

  await step("upstash: stats() counts commands and requests; resetStats()", async () => {
    const st = s.stats();
    assert((st.upstashCommands.SET ?? 0) > 10, `SET count ${st.upstashCommands.SET}`);
    assert((st.upstashCommands.XADD ?? 0) === 2, `XADD count ${st.upstashCommands.XADD}`);
    assert(st.upstashRequests > 10, `requests ${st.upstashRequests}`);
    s.resetStats();
    await raw.set(key("x"), "1");
    const after = s.stats();
    eq(after, { upstashCommands: { SET: 1 }, upstashRequests: 1 }, "after reset");
    const viaControl: unknown = await (
      await fetch(`${s.control.url}/stats`, { headers: { authorization: `Bearer ${s.control.token}` } })
    ).json();
    eq(viaControl, after, "GET /stats on the control endpoint");
    return `commands before reset: ${Object.keys(st.upstashCommands).length} kinds, ${st.upstashRequests} requests`;
  });

  // --- Neon ----------------------------------------------------------------------------------
  neonConfig.fetchEndpoint = s.neon.httpEndpoint;
  neonConfig.webSocketConstructor = ws;
  neonConfig.wsProxy = (host, port) => `${s.neon.wsProxy}?address=${host}:${port}`;
  neonConfig.useSecureWebSocket = false;
  neonConfig.pipelineTLS = false;
  neonConfig.pipelineConnect = false;
  const sql = neon(s.neon.databaseUrl);

  await step("neon http: parameterised select of int, text, jsonb, timestamptz, bool, null, array", async () => {
    const at = new Date("2026-01-02T03:04:05.678Z");
    const rows = await sql`select ${41}::int + 1 as i, ${"PONG"}::text as t, ${JSON.stringify({ a: [1, "x"] })}::jsonb as j,
      ${at.toISOString()}::timestamptz as ts, ${true}::bool as b, null::text as n, ${[1, 2, 3]}::int[] as arr,
      ${"abc"} as untyped, 12345678901234::bigint as big, 1.5::numeric as num`;
    const r = rows[0]!;
    eq(r.i, 42, "int");
    eq(r.t, "PONG", "text");
    eq(r.j, { a: [1, "x"] }, "jsonb");
    assert(r.ts instanceof Date && r.ts.getTime() === at.getTime(), `timestamptz ${String(r.ts)}`);
    eq(r.b, true, "bool");
    eq(r.n, null, "null");
    eq(r.arr, [1, 2, 3], "int[]");
    eq(r.untyped, "abc", "untyped param");
    eq(r.big, "12345678901234", "bigint stays text");
    eq(r.num, "1.5", "numeric stays text");
    const full = await sql.query("select 1 as one", [], { fullResults: true, arrayMode: true });
    eq(
      [full.command, full.rowCount, full.rows, full.fields[0]?.name, full.fields[0]?.dataTypeID],
      ["SELECT", 1, [[1]], "one", 23],
      "fullResults",
    );
  });

  await step("neon http: sql.transaction([...]) and isolation options", async () => {
    await sql`create table if not exists smoke_items (id serial primary key, name text not null, at timestamptz default now())`;
    const [ins, cnt] = await sql.transaction(
      [sql`insert into smoke_items (name) values (${"a"}), (${"b"}) returning id`, sql`select count(*)::int as c from smoke_items`],
      { isolationLevel: "Serializable", readOnly: false },
    );
    eq((ins as unknown[]).length, 2, "insert returning rows");
    assert(((cnt as { c: number }[])[0]?.c ?? 0) >= 2, `count ${JSON.stringify(cnt)}`);
    // a failing statement rolls the whole batch back
    const before = (await sql`select count(*)::int as c from smoke_items`)[0]!.c as number;
    let err: unknown;
    await sql
      .transaction([sql`insert into smoke_items (name) values ('c')`, sql`insert into smoke_items (name) values (null)`])
      .catch((e: unknown) => void (err = e));
    assert(err instanceof NeonDbError && err.code === "23502", `not-null violation → NeonDbError 23502, got ${String(err)}`);
    const after = (await sql`select count(*)::int as c from smoke_items`)[0]!.c as number;
    eq(after, before, "rolled back");
    let roErr: unknown;
    await sql.transaction([sql`insert into smoke_items (name) values ('ro')`], { readOnly: true }).catch((e: unknown) => void (roErr = e));
    assert(roErr instanceof NeonDbError && roErr.code === "25006", `read-only transaction → 25006, got ${String(roErr)}`);
  });

  await step("neon http: syntax error → NeonDbError with code 42601", async () => {
    let err: unknown;
    await sql`selec 1`.catch((e: unknown) => void (err = e));
    assert(err instanceof NeonDbError, `NeonDbError, got ${String(err)}`);
    eq([err.code, err.position, err.severity], ["42601", "1", "ERROR"], "code/position/severity");
    assert(/syntax error/.test(err.message), err.message);
  });

  await step("neon http: non-loopback connection string is refused", async () => {
    let err: unknown;
    await neon(s.neon.databaseUrl.replace("127.0.0.1", "10.1.2.3"))`select 1`.catch((e: unknown) => void (err = e));
    assert(err instanceof NeonDbError && /loopback/.test(err.message), `refused, got ${String(err)}`);
  });

  await step("neon ws: Pool over the WebSocket relay, BEGIN/INSERT/COMMIT (SCRAM login)", async () => {
    const pool = new Pool({ connectionString: s.neon.databaseUrl, max: 2 });
    try {
      const client = await pool.connect();
      try {
        await client.query("BEGIN");
        const r = await client.query<{ id: number }>("insert into smoke_items (name) values ($1) returning id", ["ws"]);
        await client.query("COMMIT");
        assert(typeof r.rows[0]?.id === "number", `id ${JSON.stringify(r.rows)}`);
        const back = await client.query<{ name: string; at: unknown }>("select name, at from smoke_items where id = $1", [r.rows[0].id]);
        eq(back.rows[0]?.name, "ws", "row visible after COMMIT");
        assert(back.rows[0]?.at instanceof Date, "timestamptz parsed");
      } finally {
        client.release();
      }
      const viaHttp = await sql`select count(*)::int as c from smoke_items where name = 'ws'`;
      eq(viaHttp[0]?.c, 1, "visible over HTTP");
      let err: unknown;
      await pool.query("select * from no_such_table").catch((e: unknown) => void (err = e));
      assert((err as { code?: string })?.code === "42P01", `error over ws: ${String(err)}`);
    } finally {
      await pool.end();
    }
  });

  await step("neon ws: relay refuses non-loopback addresses", async () => {
    const code = await new Promise<string>((res) => {
      const sock = new ws(`ws://${s.neon.wsProxy}?address=8.8.8.8:5432`);
      sock.on("unexpected-response", (_req, resp) => res(String(resp.statusCode)));
      sock.on("open", () => res("open"));
      sock.on("error", (e) => res(`error ${e.message}`));
    });
    eq(code, "403", "upgrade status");
  });

  // --- Failure and recovery ------------------------------------------------------------------
  await step("stopRedis → Upstash call fails fast (< 1 s) → startRedis → works", async () => {
    const k = key("r");
    await raw.set(k, "before");
    const t0 = performance.now();
    await s.stopRedis();
    const stopMs = performance.now() - t0;
    const { err, ms } = await failsFast(() => raw.get(k), 1000, "GET while redis is down");
    assert(err instanceof Error && /not reachable/.test(err.message), `error text: ${String(err)}`);
    const r = await fetch(s.upstash.url, { method: "POST", headers: { authorization: `Bearer ${s.upstash.token}` }, body: '["PING"]' });
    eq(r.status, 503, "HTTP status while down");
    const { ms: pms } = await failsFast(() => raw.pipeline().set(k, "x").get(k).exec(), 1000, "pipeline while redis is down");
    const t1 = performance.now();
    await s.startRedis();
    const startMs = performance.now() - t1;
    eq(await raw.set(k, "after"), "OK", "SET after restart");
    eq(await raw.get(k), "after", "GET after restart");
    return `stop ${stopMs.toFixed(0)} ms, failed call ${ms.toFixed(0)} ms, failed pipeline ${pms.toFixed(0)} ms, start ${startMs.toFixed(0)} ms`;
  });

  await step("control endpoint: POST /redis/stop and /redis/start", async () => {
    const post = (p: string, token = s.control.token) =>
      fetch(`${s.control.url}${p}`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
    eq((await post("/redis/stop", "wrong")).status, 401, "wrong token");
    const r1 = await post("/redis/stop");
    eq([r1.status, await r1.json()], [200, { ok: true }], "/redis/stop");
    await failsFast(() => raw.ping(), 1000, "PING while stopped via control");
    const r2 = await post("/redis/start");
    eq([r2.status, await r2.json()], [200, { ok: true }], "/redis/start");
    eq(await raw.ping(), "PONG", "PING right after /redis/start");
  });

  await step("stopPostgres → neon() fails fast (< 1 s) → startPostgres → works (HTTP and WebSocket)", async () => {
    const t0 = performance.now();
    await s.stopPostgres();
    const stopMs = performance.now() - t0;
    const { err, ms } = await failsFast(() => sql`select 1`, 1000, "neon() while postgres is down");
    assert(err instanceof NeonDbError, `NeonDbError, got ${String(err)}`);
    const pool = new Pool({ connectionString: s.neon.databaseUrl, max: 1 });
    const { ms: wsMs } = await failsFast(() => pool.query("select 1"), 2000, "Pool while postgres is down");
    await pool.end().catch(() => {});
    const t1 = performance.now();
    await s.startPostgres();
    const startMs = performance.now() - t1;
    eq((await sql`select 1 as x`)[0]?.x, 1, "HTTP after restart");
    const pool2 = new Pool({ connectionString: s.neon.databaseUrl, max: 1 });
    try {
      const kept = await pool2.query<{ c: number }>("select count(*)::int as c from smoke_items where name = 'ws'");
      eq(kept.rows[0]?.c, 1, "data kept, ws after restart");
    } finally {
      await pool2.end();
    }
    return `stop ${stopMs.toFixed(0)} ms, failed http ${ms.toFixed(0)} ms (${err.code}), failed ws ${wsMs.toFixed(0)} ms, start ${startMs.toFixed(0)} ms`;
  });

  await step("control endpoint: POST /postgres/stop and /postgres/start", async () => {
    const post = (p: string) => fetch(`${s.control.url}${p}`, { method: "POST", headers: { authorization: `Bearer ${s.control.token}` } });
    eq((await post("/postgres/stop")).status, 200, "/postgres/stop");
    await failsFast(() => sql`select 1`, 1000, "neon() while stopped via control");
    eq((await post("/postgres/start")).status, 200, "/postgres/start");
    eq((await sql`select 2 as x`)[0]?.x, 2, "select right after /postgres/start");
  });

  // --- Shutdown ------------------------------------------------------------------------------
  await step("stop() leaves no redis-server/postgres process of the data folder", async () => {
    const dir = s.dataDir;
    const pgPid = Number(readFileSync(join(dir, "postgres", "postmaster.pid"), "utf8").split("\n")[0]);
    const backends = childrenOf(pgPid);
    assert(backends.length > 0, "postmaster has child processes before stop");
    const needles = [`${dir}/postgres`, `redis-server 127.0.0.1:${s.redis.port}`];
    assert(processesMatching(needles).length >= 2, `servers visible before stop: ${processesMatching(needles).join("; ")}`);
    const t0 = performance.now();
    await s.stop();
    const ms = performance.now() - t0;
    await s.stop(); // idempotent
    const left = processesMatching(needles);
    assert(left.length === 0, `left over: ${left.join("; ")}`);
    const alive = [pgPid, ...backends].filter((p) => {
      try {
        process.kill(p, 0);
        return true;
      } catch {
        return false;
      }
    });
    assert(alive.length === 0, `postgres processes still alive: ${alive.join(", ")}`);
    for (const url of [s.upstash.url, s.control.url, s.neon.httpEndpoint]) {
      const ok = await fetch(url).then(
        () => true,
        () => false,
      );
      assert(!ok, `${url} still answers`);
    }
    return `stop took ${ms.toFixed(0)} ms`;
  });

  return report();
}

function report(): number {
  const failed = results.filter((r) => !r.ok);
  console.log(
    `\n${results.length - failed.length}/${results.length} steps passed${failed.length ? `; FAILED: ${failed.map((f) => f.name).join(" | ")}` : ""}`,
  );
  return failed.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error("FAIL  smoke test crashed:", e);
    process.exit(1);
  },
);
