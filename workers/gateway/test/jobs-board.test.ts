import { env, SELF } from "cloudflare:test";
import { SignJWT } from "jose";
import { describe, expect, it } from "vitest";
import type { DashboardJobs } from "../src/dashboard/board.ts";
import type { DashboardState } from "../src/dashboard/snapshot.ts";
import { token } from "./auth.ts";

const api = "http://gw.test/api/foundation/queues";
const unique = (prefix: string) => `${prefix}.${crypto.randomUUID().slice(0, 8)}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function call(method: string, path: string, scope: string, body?: unknown): Promise<Response> {
  return SELF.fetch(`${api}${path}`, {
    method,
    headers: { "content-type": "application/json", authorization: `Bearer ${await token(scope)}` },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** Creates a queue whose jobs run on the example service's `example.jobs*` handler. */
async function queue(settings: Record<string, unknown> = {}): Promise<string> {
  const name = unique("example.jobs.board");
  const res = await call("PUT", `/${name}`, "admin", { target: { service: "example" }, ...settings });
  expect(res.status).toBe(200);
  return name;
}

async function addJob(name: string, job: Record<string, unknown>): Promise<string> {
  const res = await call("POST", `/${name}/jobs`, "publish", job);
  expect(res.status).toBe(201);
  return (await res.json<{ id: string }>()).id;
}

/** Polls until `done` holds for the value, or fails after `ms`. */
async function until<T>(read: () => Promise<T>, done: (v: T) => boolean, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > end) throw new Error(`gave up waiting: ${JSON.stringify(value).slice(0, 500)}`);
    await sleep(100);
  }
}

const jobState = async (name: string, id: string) =>
  (await (await call("GET", `/${name}/jobs/${id}`, "read")).json<{ state: string }>()).state;

async function publicState(): Promise<{ text: string; state: DashboardState }> {
  const res = await SELF.fetch("http://gw.test/dashboard/state");
  expect(res.status).toBe(200);
  const text = await res.text();
  return { text, state: JSON.parse(text) as DashboardState };
}

const boardJobs = (authorization?: string) =>
  SELF.fetch("http://gw.test/dashboard/jobs", authorization ? { headers: { authorization } } : {});

describe("the job board on the dashboard", () => {
  it("counts the jobs that completed and that failed for good in the last minute in the queue summary", async () => {
    const name = await queue({ defaults: { attempts: 1 } });
    const done = await addJob(name, { name: "ok" });
    const failed = await addJob(name, { name: "bad", data: { failTimes: 1 } });
    await until(
      async () => [await jobState(name, done), await jobState(name, failed)],
      (s) => s[0] === "completed" && s[1] === "failed",
    );
    const summary = await (await call("GET", `/${name}`, "read")).json<{ lastMinute: unknown }>();
    expect(summary.lastMinute).toEqual({ completed: 1, failed: 1 });
  });

  it("shows each queue publicly by counts, pause state and last minute, without job data, reasons or the target", async () => {
    const name = await queue({ defaults: { attempts: 1 } });
    const secret = `customer-${crypto.randomUUID()}`;
    const id = await addJob(name, { name: `invoice-${secret}`, data: { failTimes: 1, secret } });
    await until(
      () => jobState(name, id),
      (s) => s === "failed",
    );
    await call("POST", `/${name}/pause`, "admin");

    const { text, state } = await until(publicState, ({ state: s }) => s.queues?.find((q) => q.name === name)?.paused === true);
    const shown = state.queues?.find((q) => q.name === name);
    expect(shown).toEqual({
      name,
      paused: true,
      counts: { waiting: 0, delayed: 0, active: 0, completed: 0, failed: 1, cancelled: 0 },
      lastMinute: { completed: 0, failed: 1 },
    });
    for (const hidden of [secret, id, "asked to fail", "example.internal", '"target"', '"service":"example"'])
      expect(text).not.toContain(hidden);
  });

  it("answers the board's jobs to an admin only: 401 without a token, 403 for other scopes or another service's audience", async () => {
    expect((await boardJobs()).status).toBe(401);
    const read = await boardJobs(`Bearer ${await token("read publish")}`);
    expect(read.status).toBe(403);
    expect(await read.json()).toMatchObject({ type: "/problems/insufficient-scope" });
    const restricted = await new SignJWT({ scope: "admin" })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("narrow")
      .setIssuer("foundation-local")
      .setAudience("foundation:billing")
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode(env.JWT_SECRET));
    const other = await boardJobs(`Bearer ${restricted}`);
    expect(other.status).toBe(403);
    expect(await other.json()).toMatchObject({ type: "/problems/wrong-audience" });
  });

  it("lists failed jobs newest first with their reasons, and unfinished ones in the order they start, never data or result", async () => {
    const name = await queue({ defaults: { attempts: 1 } });
    const secret = `payload-${crypto.randomUUID()}`;
    const first = await addJob(name, { name: "first", data: { failTimes: 1, secret } });
    await until(
      () => jobState(name, first),
      (s) => s === "failed",
    );
    const second = await addJob(name, { name: "second", data: { failTimes: 1, secret } });
    await until(
      () => jobState(name, second),
      (s) => s === "failed",
    );
    await call("POST", `/${name}/pause`, "admin");
    const later = await addJob(name, { name: "later", delayMs: 600_000, data: { secret } });
    const low = await addJob(name, { name: "low", priority: 5, data: { secret } });
    const high = await addJob(name, { name: "high", priority: 1, data: { secret } });

    const res = await boardJobs(`Bearer ${await token("admin")}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("cache-control")).toBe("no-store");
    const text = await res.text();
    expect(text).not.toContain(secret);
    const board = (JSON.parse(text) as DashboardJobs).queues?.find((q) => q.name === name);
    expect(board?.failed?.map((j) => j.id)).toEqual([second, first]);
    expect(board?.failed?.[0]).toEqual({
      id: second,
      name: "second",
      state: "failed",
      attemptsMade: 1,
      attempts: 1,
      failedReason: expect.stringContaining("attempt 1 asked to fail") as string,
      runAt: expect.any(String) as string,
      finishedAt: expect.any(String) as string,
    });
    expect(board?.unfinished?.map((j) => [j.id, j.state])).toEqual([
      [high, "waiting"],
      [low, "waiting"],
      [later, "delayed"],
    ]);
  });
});
