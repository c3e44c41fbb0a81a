import { abortAllDurableObjects, env, SELF } from "cloudflare:test";
import { progressToken } from "@foundation/jobs";
import { redisFrom } from "@foundation/service-kit";
import { describe, expect, it } from "vitest";
import { token } from "./auth.ts";

const api = "http://gw.test/api/foundation/queues";
const unique = (prefix: string) => `${prefix}.${crypto.randomUUID().slice(0, 8)}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Job {
  id: string;
  state: string;
  attemptsMade: number;
  failedReason: string | null;
  progress: unknown;
  result: unknown;
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  runAt: string;
  schedule: string | null;
}

async function call(method: string, path: string, scope: string, body?: unknown): Promise<Response> {
  return SELF.fetch(`${api}${path}`, {
    method,
    headers: { "content-type": "application/json", authorization: `Bearer ${await token(scope)}` },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** Creates a queue whose jobs run on the example service's `example.jobs*` handler. */
async function queue(settings: Record<string, unknown> = {}): Promise<string> {
  const name = unique("example.jobs");
  const res = await call("PUT", `/${name}`, "admin", { target: { service: "example" }, ...settings });
  expect(res.status).toBe(200);
  return name;
}

async function add(name: string, jobs: unknown): Promise<Response> {
  return call("POST", `/${name}/jobs`, "publish", jobs);
}

async function job(name: string, id: string): Promise<Job> {
  const res = await call("GET", `/${name}/jobs/${encodeURIComponent(id)}`, "read");
  expect(res.status).toBe(200);
  return res.json();
}

/** Polls until `done` holds for the value, or fails after `ms`. */
async function until<T>(read: () => Promise<T>, done: (v: T) => boolean, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > end) throw new Error(`gave up waiting: ${JSON.stringify(value).slice(0, 500)}`);
    await sleep(50);
  }
}

const counts = async (name: string) => (await (await call("GET", `/${name}`, "read")).json<{ counts: Record<string, number> }>()).counts;

/** What the example's handler recorded of each attempt of a run. */
async function records(run: string): Promise<Array<{ id: string; attempt: number; start: number; end: number }>> {
  const raw = await redisFrom(env).lrange(`example:jobs:${run}`, 0, -1);
  return raw.map((r) => (typeof r === "string" ? JSON.parse(r) : r) as { id: string; attempt: number; start: number; end: number });
}

/** Most attempts that overlapped in time. */
function maxOverlap(spans: ReadonlyArray<{ start: number; end: number }>): number {
  const edges = spans.flatMap((s) => [[s.start, 1] as const, [s.end, -1] as const]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let now = 0;
  let most = 0;
  for (const [, d] of edges) most = Math.max(most, (now += d));
  return most;
}

describe("job queues", () => {
  it("never runs more than `concurrency` jobs at once (200 jobs, concurrency 5), as the worker sees them", async () => {
    const name = await queue({ concurrency: 5 });
    const run = unique("run");
    const res = await add(
      name,
      Array.from({ length: 200 }, (_, i) => ({ name: "work", data: { run, sleepMs: 15, i } })),
    );
    expect(res.status).toBe(201);
    expect((await res.json<{ ids: string[] }>()).ids).toHaveLength(200);
    await until(
      () => counts(name),
      (c) => (c.completed ?? 0) === 200,
      30_000,
    );
    const spans = await records(run);
    expect(spans).toHaveLength(200);
    expect(maxOverlap(spans)).toBeLessThanOrEqual(5);
    expect(maxOverlap(spans)).toBeGreaterThan(1);
  });

  it("never starts more than `max` jobs in any window of `durationMs` (rateLimit 10 per second)", async () => {
    const name = await queue({ concurrency: 50, rateLimit: { max: 10, durationMs: 1000 } });
    await add(
      name,
      Array.from({ length: 25 }, (_, i) => ({ name: "call", data: { i } })),
    );
    await until(
      () => counts(name),
      (c) => (c.completed ?? 0) === 25,
    );
    const page = await (await call("GET", `/${name}/jobs?state=completed&limit=100`, "read")).json<{ jobs: Job[] }>();
    const starts = page.jobs.map((j) => Date.parse(j.startedAt ?? "")).sort((a, b) => a - b);
    expect(starts).toHaveLength(25);
    for (let i = 10; i < starts.length; i++) expect((starts[i] ?? 0) - (starts[i - 10] ?? 0)).toBeGreaterThanOrEqual(1000);
    // It does not wait longer than it must: 25 starts at 10 a second take a little over 2 s.
    expect((starts.at(-1) ?? 0) - (starts[0] ?? 0)).toBeLessThan(3000);
  });

  it("starts a delayed job after its delay and within 250 ms of it, and one with runAt at its time", async () => {
    const name = await queue();
    const delayed = await (await add(name, { name: "later", delayMs: 600 })).json<{ id: string }>();
    const runAt = new Date(Date.now() + 800).toISOString();
    const timed = await (await add(name, { name: "at", runAt })).json<{ id: string }>();
    expect((await job(name, delayed.id)).state).toBe("delayed");
    const first = await until(
      () => job(name, delayed.id),
      (j) => j.state === "completed",
    );
    const lateness = Date.parse(first.startedAt ?? "") - Date.parse(first.createdAt) - 600;
    expect(lateness).toBeGreaterThanOrEqual(0);
    expect(lateness).toBeLessThan(250);
    const second = await until(
      () => job(name, timed.id),
      (j) => j.state === "completed",
    );
    const late = Date.parse(second.startedAt ?? "") - Date.parse(runAt);
    expect(late).toBeGreaterThanOrEqual(0);
    expect(late).toBeLessThan(250);
  });

  it("deduplicates by jobId: the second add answers the first job and adds nothing", async () => {
    const name = await queue();
    const first = await (
      await add(name, { name: "once", jobId: "report-2026-12-01", delayMs: 60_000 })
    ).json<{ id: string; duplicate: boolean }>();
    const again = await (
      await add(name, { name: "once", jobId: "report-2026-12-01", data: { other: true } })
    ).json<{ duplicate: boolean; id: string }>();
    expect(first).toEqual({ id: "report-2026-12-01", duplicate: false });
    expect(again).toEqual({ id: "report-2026-12-01", duplicate: true });
    expect((await counts(name)).delayed).toBe(1);
  });

  it("retries a failing job `attempts` times with its backoff, then fails it with the reason; retry runs it again", async () => {
    const name = await queue({ defaults: { attempts: 3, backoff: { type: "fixed", delayMs: 150 } } });
    const run = unique("run");
    const { id } = await (await add(name, { name: "flaky", data: { run, failTimes: 3 } })).json<{ id: string }>();
    const failed = await until(
      () => job(name, id),
      (j) => j.state === "failed",
    );
    expect(failed.attemptsMade).toBe(3);
    expect(failed.failedReason).toContain("attempt 3 asked to fail");
    const attempts = await records(run);
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2, 3]);
    for (let i = 1; i < attempts.length; i++) expect((attempts[i]?.start ?? 0) - (attempts[i - 1]?.end ?? 0)).toBeGreaterThanOrEqual(140);

    const retried = await call("POST", `/${name}/jobs/${id}/retry`, "publish");
    expect(retried.status).toBe(200);
    await until(
      () => records(run),
      (r) => r.length === 6,
    );
    expect(
      (
        await until(
          () => job(name, id),
          (j) => j.state === "failed",
        )
      ).attemptsMade,
    ).toBe(3);
    expect((await call("POST", `/${name}/jobs/${id}/cancel`, "publish")).status).toBe(409);
  });

  it("keeps the progress reported to an attempt's progress URL while it runs, and the result", async () => {
    const name = await queue();
    const { id } = await (await add(name, { name: "report", data: { sleepMs: 1500 } })).json<{ id: string }>();
    await until(
      () => job(name, id),
      (j) => j.state === "active",
    );
    const url = (attempt: number, secret = env.EVENT_SIGNING_SECRET) =>
      progressToken(secret, name, id, attempt).then((t) => `${api}/${name}/jobs/${id}/progress?attempt=${attempt}&token=${t}`);
    const report = async (target: string, progress: unknown) =>
      SELF.fetch(target, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ progress }) });
    expect((await report(await url(1), { step: "upload", pct: 90 })).status).toBe(204);
    expect((await job(name, id)).progress).toEqual({ step: "upload", pct: 90 });
    expect((await report(await url(1, "not-the-secret"), 1)).status).toBe(401);
    expect((await report(await url(2), 1)).status).toBe(409);
    const done = await until(
      () => job(name, id),
      (j) => j.state === "completed",
    );
    expect(done.progress).toEqual({ step: "upload", pct: 90 });
    expect(done.result).toEqual({ echo: { sleepMs: 1500 }, attempt: 1 });
    expect((await report(await url(1), 100)).status).toBe(409);
  });

  it("never starts a cancelled job", async () => {
    const name = await queue();
    const run = unique("run");
    const { id } = await (await add(name, { name: "doomed", delayMs: 300, data: { run } })).json<{ id: string }>();
    const cancelled = await call("POST", `/${name}/jobs/${id}/cancel`, "publish");
    expect(cancelled.status).toBe(200);
    expect(await cancelled.json()).toMatchObject({ state: "cancelled" });
    await sleep(600);
    expect(await records(run)).toEqual([]);
    expect((await job(name, id)).state).toBe("cancelled");
  });

  it("delays a job whose worker answers 429 Retry-After, without spending an attempt", async () => {
    const name = await queue({ defaults: { attempts: 1 } });
    const { id } = await (await add(name, { name: "ai-call", data: { throttleOnceMs: 1000 } })).json<{ id: string }>();
    const throttled = await until(
      () => job(name, id),
      (j) => j.state === "delayed",
    );
    expect(throttled.attemptsMade).toBe(0);
    const done = await until(
      () => job(name, id),
      (j) => j.state === "completed",
    );
    expect(done.attemptsMade).toBe(1);
    expect(Date.parse(done.startedAt ?? "") - Date.parse(done.createdAt)).toBeGreaterThanOrEqual(1000);
  });

  it("fires a schedule once per period, also across a restart of the queue object", async () => {
    const name = await queue();
    const put = await call("PUT", `/${name}/schedules/tick`, "admin", { repeat: { everyMs: 1000 }, job: { name: "tick" } });
    expect(put.status).toBe(200);
    await sleep(2200);
    await abortAllDurableObjects();
    await sleep(2200);
    const page = await (await call("GET", `/${name}/jobs?state=completed&limit=100`, "read")).json<{ jobs: Job[] }>();
    const runs = page.jobs.filter((j) => j.schedule === "tick").map((j) => Date.parse(j.runAt));
    expect(runs.length).toBeGreaterThanOrEqual(3);
    expect(new Set(runs).size).toBe(runs.length);
    for (const at of runs) expect(at % 1000).toBe(0);
    const sorted = [...runs].sort((a, b) => a - b);
    for (let i = 1; i < sorted.length; i++) expect((sorted[i] ?? 0) - (sorted[i - 1] ?? 0)).toBe(1000);
    expect((await call("DELETE", `/${name}/schedules/tick`, "admin")).status).toBe(204);
  });

  it("pauses and resumes a queue", async () => {
    const name = await queue();
    expect((await call("POST", `/${name}/pause`, "admin")).status).toBe(200);
    const { id } = await (await add(name, { name: "held" })).json<{ id: string }>();
    await sleep(300);
    expect((await job(name, id)).state).toBe("waiting");
    expect(await (await call("POST", `/${name}/resume`, "admin")).json()).toMatchObject({ paused: false });
    await until(
      () => job(name, id),
      (j) => j.state === "completed",
    );
  });
});

describe("job queue input and access", () => {
  it.each([
    ["an unknown queue", "POST", "/nosuch.queue/jobs", "publish", { name: "x" }, 404],
    ["a negative delay", "POST", "/{q}/jobs", "publish", { name: "x", delayMs: -5 }, 400],
    ["oversized data", "POST", "/{q}/jobs", "publish", { name: "x", data: "y".repeat(70_000) }, 400],
    ["a malformed cron pattern", "PUT", "/{q}/schedules/nightly", "admin", { repeat: { cron: "61 * * * *" }, job: { name: "x" } }, 400],
    [
      "an unknown time zone",
      "PUT",
      "/{q}/schedules/nightly",
      "admin",
      { repeat: { cron: "0 9 * * *", tz: "Mars/Base" }, job: { name: "x" } },
      400,
    ],
    ["a queue without the admin scope", "PUT", "/other.queue", "publish", { target: { service: "example" } }, 403],
    ["a job without the publish scope", "POST", "/{q}/jobs", "read", { name: "x" }, 403],
    ["a target service the gateway does not have", "PUT", "/{q}", "admin", { target: { service: "nosuch" } }, 400],
    ["a private target URL", "PUT", "/{q}", "admin", { target: { url: "https://10.0.0.1/jobs" } }, 400],
  ])("refuses %s with a problem, storing nothing", async (_, method, path, scope, payload, status) => {
    const name = await queue();
    const before = await counts(name);
    const res = await call(method, path.replace("{q}", name), scope, payload);
    expect(res.status).toBe(status);
    expect(res.headers.get("content-type")).toContain("application/problem+json");
    expect(await counts(name)).toEqual(before);
    expect(await (await call("GET", `/${name}/schedules`, "read")).json()).toEqual({ schedules: [] });
  });

  it("lists queues with their counts", async () => {
    const name = await queue();
    await add(name, { name: "x", delayMs: 60_000 });
    const list = await (await call("GET", "", "read")).json<{ queues: Array<{ name: string; counts: Record<string, number> }> }>();
    expect(list.queues.find((q) => q.name === name)?.counts.delayed).toBe(1);
    expect((await call("DELETE", `/${name}`, "admin")).status).toBe(204);
    expect((await call("GET", `/${name}`, "read")).status).toBe(404);
  });
});
