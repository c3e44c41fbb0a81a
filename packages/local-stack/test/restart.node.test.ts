/**
 * Stopping and restarting redis-server and PostgreSQL under the real clients (directly and through the
 * control endpoint that workerd tests use), then stopping the whole stack: nothing of it may keep running.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { NeonDbError, Pool, type NeonQueryFunction } from "@neondatabase/serverless";
import type { Redis } from "@upstash/redis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LocalStack } from "../src/index.ts";
import { failsFast, key, neonClient, startTestStack, upstashClients } from "./helpers.ts";

let stack: LocalStack;
let raw: Redis;
let sql: NeonQueryFunction<false, false>;

beforeAll(async () => {
  stack = await startTestStack();
  raw = upstashClients(stack).raw;
  sql = neonClient(stack);
});
afterAll(() => stack?.stop());

const control = (path: string, token = stack.control.token) =>
  fetch(`${stack.control.url}${path}`, { method: "POST", headers: { authorization: `Bearer ${token}` } });

/** The processes whose command line contains one of `needles` (Linux /proc), this one excepted. */
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

/** The pids whose parent is `ppid` (Linux /proc). */
function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      // The command name in parentheses may contain spaces: the fields after it are ") state ppid ...".
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[1]) === ppid) out.push(Number(pid));
    } catch {
      // The process ended while the folder was being read.
    }
  }
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("redis-server stopped and restarted", () => {
  it("makes Upstash calls fail within 1 s (503, not reachable) while stopped, and work again after startRedis()", async () => {
    const k = key("r");
    await raw.set(k, "before");
    await stack.stopRedis();
    const err = await failsFast(() => raw.get(k), 1000, "GET while redis is down");
    expect((err as Error).message).toMatch(/not reachable/);
    const r = await fetch(stack.upstash.url, {
      method: "POST",
      headers: { authorization: `Bearer ${stack.upstash.token}` },
      body: '["PING"]',
    });
    expect(r.status).toBe(503);
    await failsFast(() => raw.pipeline().set(k, "x").get(k).exec(), 1000, "pipeline while redis is down");
    await stack.startRedis();
    expect(await raw.set(k, "after")).toBe("OK");
    expect(await raw.get(k)).toBe("after");
  });

  it("stops and starts redis-server through the control endpoint ({ok:true} once done), and refuses a wrong token with 401", async () => {
    expect((await control("/redis/stop", "wrong")).status).toBe(401);
    const stopped = await control("/redis/stop");
    expect([stopped.status, await stopped.json()]).toEqual([200, { ok: true }]);
    await failsFast(() => raw.ping(), 1000, "PING while stopped via control");
    const started = await control("/redis/start");
    expect([started.status, await started.json()]).toEqual([200, { ok: true }]);
    expect(await raw.ping(), "PING right after /redis/start").toBe("PONG");
  });
});

describe("PostgreSQL stopped and restarted", () => {
  it("makes neon() fail within 1 s and a Pool within 2 s while stopped; after startPostgres() both work and the data is kept", async () => {
    await sql`create table restart_items (name text not null)`;
    await sql`insert into restart_items (name) values ('kept')`;
    await stack.stopPostgres();
    const err = await failsFast(() => sql`select 1`, 1000, "neon() while postgres is down");
    expect(err).toBeInstanceOf(NeonDbError);
    const pool = new Pool({ connectionString: stack.neon.databaseUrl, max: 1 });
    await failsFast(() => pool.query("select 1"), 2000, "Pool while postgres is down");
    await pool.end().catch(() => {});
    await stack.startPostgres();
    expect((await sql`select 1 as x`)[0]?.x, "HTTP after restart").toBe(1);
    const again = new Pool({ connectionString: stack.neon.databaseUrl, max: 1 });
    try {
      const kept = await again.query<{ c: number }>("select count(*)::int as c from restart_items where name = 'kept'");
      expect(kept.rows[0]?.c, "data kept, read over the WebSocket after restart").toBe(1);
    } finally {
      await again.end();
    }
  });

  it("stops and starts PostgreSQL through the control endpoint, with neon() failing within 1 s in between", async () => {
    expect((await control("/postgres/stop")).status).toBe(200);
    await failsFast(() => sql`select 1`, 1000, "neon() while stopped via control");
    expect((await control("/postgres/start")).status).toBe(200);
    expect((await sql`select 2 as x`)[0]?.x, "select right after /postgres/start").toBe(2);
  });
});

describe("servers paused and resumed (SIGSTOP / SIGCONT)", () => {
  it("leaves a Redis command unanswered while paused, then runs it once resumed through the control endpoint", async () => {
    const k = key("paused");
    expect((await control("/redis/pause")).status).toBe(200);
    const write = raw.set(k, "sent while paused");
    const settled = await Promise.race([write.then(() => "answered"), new Promise((r) => setTimeout(() => r("hung"), 500))]);
    expect(settled).toBe("hung");
    expect((await control("/redis/resume")).status).toBe(200);
    expect(await write).toBe("OK");
    expect(await raw.get(k)).toBe("sent while paused");
  });

  it("leaves a query on an open connection unanswered while PostgreSQL is paused, then answers it once resumed", async () => {
    expect((await sql`select 1 as x`)[0]?.x, "a pooled connection of the endpoint is open").toBe(1);
    expect((await control("/postgres/pause")).status).toBe(200);
    const query = sql`select 2 as x`;
    const settled = await Promise.race([query.then(() => "answered"), new Promise((r) => setTimeout(() => r("hung"), 500))]);
    expect(settled).toBe("hung");
    expect((await control("/postgres/resume")).status).toBe(200);
    expect((await query)[0]?.x).toBe(2);
  });
});

describe("stack stopped", () => {
  it("leaves no redis-server or postgres process of its data folder, even paused ones, and no endpoint answering; a second stop() resolves", async () => {
    const dir = stack.dataDir;
    const postmaster = Number(readFileSync(join(dir, "postgres", "postmaster.pid"), "utf8").split("\n")[0]);
    const backends = childrenOf(postmaster);
    expect(backends.length, "postmaster has child processes before stop").toBeGreaterThan(0);
    const needles = [`${dir}/postgres`, `redis-server 127.0.0.1:${stack.redis.port}`];
    expect(processesMatching(needles).length, "servers visible before stop").toBeGreaterThanOrEqual(2);
    await stack.pauseRedis();
    await stack.pausePostgres();
    await stack.stop();
    await stack.stop();
    expect(processesMatching(needles), "left over").toEqual([]);
    expect([postmaster, ...backends].filter(alive), "postgres processes still alive").toEqual([]);
    for (const url of [stack.upstash.url, stack.control.url, stack.neon.httpEndpoint]) {
      const answered = await fetch(url).then(
        () => true,
        () => false,
      );
      expect(answered, `${url} still answers`).toBe(false);
    }
  });
});
