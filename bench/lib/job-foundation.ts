/**
 * The jobs bench's Foundation side: the gateway as wrangler.toml declares it, with its job queues (a `JobQueue`
 * object each), and bench-jobs, a service on the kit that runs the `bench.jobs.*` queues' jobs
 * (bench/workers/job-sink.ts). Queues are created and fed through the gateway's HTTP API as any client would;
 * what a queue object costs is read from it (`JobQueue.usage()`) through bench-jobs.
 */
import { request as httpRequest } from "node:http";
import { resolve } from "node:path";
import { serviceSecret } from "@foundation/core";
import type { Redis } from "ioredis";
import { BENCH_SIGNING_SECRET } from "./auth.ts";
import type { BenchContext } from "./context.ts";
import { gatewayWorker } from "./event-workers.ts";
import {
  BATCH,
  CONCURRENCY,
  delayedRun,
  delays,
  DELAYED,
  JOBS,
  SPREAD_MS,
  sleep,
  type DelayedRun,
  type ThroughputRun,
} from "./job-runs.ts";
import { benchOnlyWorker, type BenchWorker, type ServedWorkers } from "./miniflare.ts";
import { commandCalls, commandDelta, upstashCommands } from "./redis-commands.ts";
import type { JobSinkStats } from "../workers/job-sink.ts";

/** The service the bench's queues push to, bound to the gateway as `BENCH_JOBS`. */
const SINK = "bench-jobs";

/** What `JobQueue.usage()` answers (packages/jobs): SQL work and alarms since the object started. */
export interface QueueUsage {
  statements: number;
  rowsRead: number;
  rowsWritten: number;
  since: number;
  alarms: number;
  alarmAt: number | null;
}

/** A Foundation throughput run, with what the queue object's storage did per job. */
export interface FoundationThroughputRun extends ThroughputRun {
  statementsPerJob: number;
  rowsReadPerJob: number;
  rowsWrittenPerJob: number;
  /** Alarms the queue object ran during the run. */
  alarms: number;
}

/** A Foundation delayed run, with the alarms the queue object ran per delayed job. */
export interface FoundationDelayedRun extends DelayedRun {
  alarmsPerJob: number;
}

/** The gateway (its `BENCH_JOBS` binding reaching bench-jobs) and bench-jobs, in the order `serveWorkers` takes. */
export async function jobWorkers(ctx: BenchContext): Promise<BenchWorker[]> {
  const gateway: BenchWorker = { ...gatewayWorker(ctx, {}), serviceBindings: { BENCH_JOBS: SINK } };
  const sink = await benchOnlyWorker(SINK, resolve(ctx.root, "bench/workers/job-sink-entry.js"), resolve(ctx.root, "wrangler.toml"), {
    // A service verifies pushes with its own secret, derived from the gateway's.
    bindings: { EVENT_SIGNING_SECRET: await serviceSecret(BENCH_SIGNING_SECRET, SINK) },
    durableObjects: { JOB_QUEUE: { className: "JobQueue", scriptName: gateway.name, useSQLite: true } },
  });
  return [gateway, sink];
}

/** Foundation's job queues, served by `served`, driven through the gateway's API with an admin `token`. */
export class FoundationJobs {
  constructor(
    private readonly ctx: BenchContext,
    private readonly served: ServedWorkers,
    private readonly token: string,
    private readonly redis: Redis,
  ) {}

  /**
   * One call to the gateway's queue API, on a connection of its own. Locally the gateway's requests wait for the thread
   * that runs the busy queue object, and requests sent on a reused keep-alive connection were at times reset (read
   * ECONNRESET, "other side closed") before the gateway saw them; with a fresh connection per call they were not.
   */
  private api(method: string, path: string, body?: unknown): Promise<{ status: number; text: string }> {
    const url = new URL(`/api/foundation/queues/${path}`, this.served.url);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers = { "content-type": "application/json", authorization: `Bearer ${this.token}` };
    return new Promise((resolvePromise, reject) => {
      const req = httpRequest(url, { method, headers, agent: false, signal: this.ctx.signal }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => resolvePromise({ status: res.statusCode ?? 0, text }));
        res.on("error", reject);
      });
      req.on("error", (err) => reject(new Error(`${method} ${url.pathname}: ${err.message}`, { cause: err })));
      req.end(payload);
    });
  }

  /** A call to bench-jobs (through Miniflare's own connections, so retried: every one of them is idempotent). */
  private async sink<T>(path: string, init?: RequestInit): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        const res = await this.served.fetchWorker(SINK, `http://bench-jobs${path}`, init);
        if (!res.ok) throw new Error(`bench-jobs ${path} answered ${res.status}: ${await res.text()}`);
        return (await res.json()) as T;
      } catch (err) {
        if (attempt >= 3 || !(err instanceof TypeError)) throw err;
        this.ctx.log(`jobs: bench-jobs ${path} failed (${err.message}); retrying`);
      }
    }
  }

  /** Creates a queue of {@link CONCURRENCY} whose jobs bench-jobs runs, with the default job options. */
  async createQueue(name: string): Promise<void> {
    const res = await this.api("PUT", name, { target: { service: SINK }, concurrency: CONCURRENCY });
    if (res.status !== 200) throw new Error(`PUT queue ${name} answered ${res.status}: ${res.text}`);
  }

  /** Adds jobs (at most 1,000) in one request. */
  async add(name: string, jobs: unknown[]): Promise<void> {
    const res = await this.api("POST", `${name}/jobs`, jobs);
    if (res.status !== 201) throw new Error(`adding ${jobs.length} jobs to ${name} answered ${res.status}: ${res.text}`);
  }

  /** The queue's job counts by state (`GET /:queue`). */
  async counts(name: string): Promise<Record<string, number>> {
    const res = await this.api("GET", name);
    if (res.status !== 200) throw new Error(`GET queue ${name} answered ${res.status}: ${res.text}`);
    return (JSON.parse(res.text) as { counts: Record<string, number> }).counts;
  }

  /** What the queue's object has cost since it started. */
  usage(name: string): Promise<QueueUsage> {
    return this.sink<QueueUsage>(`/usage/${name}`);
  }

  private resetSink(): Promise<unknown> {
    return this.sink("/reset", { method: "POST" });
  }

  /** Waits until bench-jobs has started `count` jobs, polling its count (which does not touch the queue object). */
  private async untilStarted(count: number, timeoutMs: number): Promise<void> {
    let last = -1;
    let lastChange = Date.now();
    for (;;) {
      const { count: seen } = await this.sink<Omit<JobSinkStats, "errors">>("/count");
      if (seen >= count) return;
      if (seen !== last) [last, lastChange] = [seen, Date.now()];
      if (Date.now() - lastChange > timeoutMs)
        throw new Error(`bench-jobs started ${seen} of ${count} jobs, none in the last ${timeoutMs / 1000} s`);
      await sleep(50, this.ctx.signal);
    }
  }

  /** Waits until the queue holds no unfinished job, polling `GET /:queue`; answers the final counts. */
  private async untilDrained(name: string): Promise<Record<string, number>> {
    const end = Date.now() + 60_000;
    for (;;) {
      const c = await this.counts(name);
      if ((c.waiting ?? 0) + (c.delayed ?? 0) + (c.active ?? 0) === 0) return c;
      if (Date.now() > end) throw new Error(`queue ${name} still holds unfinished jobs: ${JSON.stringify(c)}`);
      await sleep(5, this.ctx.signal);
    }
  }

  /**
   * Adds `jobs` no-op jobs in batches of {@link BATCH}, one request at a time, to a new queue; times them from the
   * first add to the last completion (the queue holds none unfinished), and counts what they cost.
   */
  async throughput(name: string, jobs = JOBS): Promise<FoundationThroughputRun> {
    await this.createQueue(name);
    await this.resetSink();
    const usage0 = await this.usage(name);
    const calls0 = await commandCalls(this.redis);
    this.ctx.stack.resetStats();
    const t0 = Date.now();
    for (let added = 0; added < jobs; added += BATCH) {
      await this.add(
        name,
        Array.from({ length: Math.min(BATCH, jobs - added) }, () => ({ name: "noop" })),
      );
    }
    const addedAt = Date.now();
    // The sink's count first (cheap to poll), then the queue's own counts, which is what says a job completed.
    await this.untilStarted(jobs, 30_000);
    const final = await this.untilDrained(name);
    const t1 = Date.now();
    const upstash = upstashCommands(this.ctx);
    const server = commandDelta(calls0, await commandCalls(this.redis)).total;
    const usage1 = await this.usage(name);
    if (usage1.since !== usage0.since) throw new Error(`queue ${name}'s object restarted during the run; its usage cannot be compared`);
    if ((final.failed ?? 0) > 0) throw new Error(`queue ${name}: ${final.failed} jobs failed`);
    return {
      jobsPerSec: (jobs * 1000) / (t1 - t0),
      addedPerSec: (jobs * 1000) / Math.max(1, addedAt - t0),
      clientCommandsPerJob: upstash / jobs,
      serverCommandsPerJob: server / jobs,
      statementsPerJob: (usage1.statements - usage0.statements) / jobs,
      rowsReadPerJob: (usage1.rowsRead - usage0.rowsRead) / jobs,
      rowsWrittenPerJob: (usage1.rowsWritten - usage0.rowsWritten) / jobs,
      alarms: usage1.alarms - usage0.alarms,
    };
  }

  /** Adds {@link DELAYED} jobs in one request to a new queue, delayed 10 ms to 10 s, and measures how late each starts. */
  async delayed(name: string): Promise<FoundationDelayedRun> {
    await this.createQueue(name);
    await this.resetSink();
    const usage0 = await this.usage(name);
    await this.add(
      name,
      delays().map((delayMs) => ({ name: "delayed", data: { delayMs }, delayMs })),
    );
    await sleep(SPREAD_MS, this.ctx.signal);
    await this.untilStarted(DELAYED, 30_000);
    await this.untilDrained(name);
    const { errors } = await this.sink<JobSinkStats>("/stats");
    const usage1 = await this.usage(name);
    // Counted from a restart if the object was evicted meanwhile (not expected while its alarms keep firing).
    const alarms = usage1.since === usage0.since ? usage1.alarms - usage0.alarms : usage1.alarms;
    return { ...delayedRun(errors, "Foundation"), alarmsPerJob: alarms / DELAYED };
  }
}
