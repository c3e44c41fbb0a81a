/**
 * Job queues (issue 20) against BullMQ in the same run, on the same redis-server: end-to-end jobs/s for 20,000 no-op
 * jobs at concurrency 50 (added 1,000 at a time, timed from the first add to the last completion); how late delayed
 * jobs start (started − due, p50 and p99, for 1,000 jobs due over 10 s); and what each costs in Redis commands (what
 * Upstash bills) and, for Foundation, in Durable Object SQLite work (statements, rows read and written, alarms), per
 * job and per idle minute. Foundation's queue runs in workerd and pushes each job to a service on the kit; BullMQ's
 * Worker runs in a Node process of its own. Runs alternate between the two sides; figures are medians of
 * `BENCH_REPEATS` runs; the idle window is six times `BENCH_DURATION` (a minute by default), both sides at once.
 */
import { Redis } from "ioredis";
import { benchToken } from "./lib/auth.ts";
import { defineBench, type BenchContext } from "./lib/context.ts";
import { BullmqPeer } from "./lib/job-bullmq.ts";
import { FoundationJobs, jobWorkers, type FoundationDelayedRun, type FoundationThroughputRun } from "./lib/job-foundation.ts";
import { CONCURRENCY, DELAYED, JOBS, SPREAD_MS, sleep, WARMUP_JOBS, type DelayedRun, type ThroughputRun } from "./lib/job-runs.ts";
import { serveWorkers, type ServedWorkers } from "./lib/miniflare.ts";
import { commandDelta, upstashCommands } from "./lib/redis-commands.ts";
import { recordFigure } from "./lib/results.ts";
import { median, roundTo } from "./lib/stats.ts";

const fmt = (n: number, digits = 0) => n.toLocaleString("en-US", { maximumFractionDigits: digits });
const THROUGHPUT = `${fmt(JOBS)} no-op jobs added 1,000 per call, concurrency ${CONCURRENCY}, from the first add to the last completion`;
const DELAYED_RUN = `${fmt(DELAYED)} jobs added at once, delays spread evenly from 10 ms to ${SPREAD_MS / 1000} s; started − due at the handler`;

/** What one idle window measured, per minute. */
interface IdleCosts {
  seconds: number;
  bullmqSent: number;
  bullmqServer: number;
  foundationUpstash: number;
  /** Per queue object. */
  statements: number;
  alarms: number;
  queues: number;
  /** Queue objects with an alarm set at the end of the window (an idle queue should have none). */
  withAlarm: number;
  /** Queue objects evicted from memory during the window (counted from their restart). */
  evicted: number;
}

function logThroughput(ctx: BenchContext, side: string, run: number, r: ThroughputRun, extra = "") {
  ctx.log(
    `jobs: ${side} run ${run}/${ctx.settings.repeats}: ${fmt(r.jobsPerSec)} jobs/s end to end (added at ${fmt(r.addedPerSec)}/s), ` +
      `${fmt(r.clientCommandsPerJob, 3)} client and ${fmt(r.serverCommandsPerJob, 3)} redis-server commands per job${extra}`,
  );
}

function logDelayed(ctx: BenchContext, side: string, run: number, r: DelayedRun, extra = "") {
  ctx.log(
    `jobs: ${side} delayed run ${run}/${ctx.settings.repeats}: started late by p50 ${r.p50} ms, p99 ${r.p99} ms, max ${r.max} ms` +
      `${r.early > 0 ? ` (${r.early} early)` : ""}${extra}`,
  );
}

/** Both sides idle at once: BullMQ's worker on an empty queue, and every Foundation queue object of the run. */
async function measureIdle(ctx: BenchContext, peer: BullmqPeer, foundation: FoundationJobs, queues: string[], id: string) {
  const name = `bench-jobs-${id}-idle`;
  const seconds = ctx.settings.durationSec * 6;
  ctx.log(`jobs: both sides idle for ${seconds} s (a BullMQ worker on an empty queue; ${queues.length} Foundation queues) …`);
  return peer.idle(name, async (sample): Promise<IdleCosts> => {
    // Past the worker's start-up (connections, script loading).
    await sleep(2_000, ctx.signal);
    const usage0 = await Promise.all(queues.map((q) => foundation.usage(q)));
    const s0 = await sample();
    ctx.stack.resetStats();
    const t0 = performance.now();
    await sleep(seconds * 1000, ctx.signal);
    const s1 = await sample();
    const upstash = upstashCommands(ctx);
    const minutes = (performance.now() - t0) / 60_000;
    const usage1 = await Promise.all(queues.map((q) => foundation.usage(q)));
    // An object evicted while idle (workerd, like Cloudflare, evicts idle objects) started again when read: its counts
    // run from that restart, whose own statements a never-used queue object shows.
    const restart = await foundation.usage(`bench.jobs.${id}.never-used`);
    let statements = 0;
    let alarms = 0;
    let evicted = 0;
    usage0.forEach((before, i) => {
      const after = usage1[i] as typeof before;
      const same = after.since === before.since;
      if (!same) evicted++;
      statements += same ? after.statements - before.statements : after.statements - restart.statements;
      alarms += same ? after.alarms - before.alarms : after.alarms;
    });
    return {
      seconds,
      bullmqSent: (s1.sent - s0.sent) / minutes,
      bullmqServer: Math.max(0, commandDelta(s0.calls, s1.calls).total - upstash) / minutes,
      foundationUpstash: upstash / minutes,
      statements: statements / queues.length / minutes,
      alarms: alarms / queues.length / minutes,
      queues: queues.length,
      withAlarm: usage1.filter((u) => u.alarmAt !== null).length,
      evicted,
    };
  });
}

function record(
  bullmq: { throughput: ThroughputRun[]; delayed: DelayedRun[] },
  foundation: { throughput: FoundationThroughputRun[]; delayed: FoundationDelayedRun[] },
  idle: IdleCosts,
) {
  const of = <T>(runs: T[], f: (r: T) => number, digits: number) => {
    const samples = runs.map((r) => roundTo(f(r), digits));
    return { median: median(samples), samples };
  };
  const sides = [
    ["bullmq", "BullMQ (Queue.addBulk in the bench process, a Worker in its own Node process)", bullmq],
    ["foundation", "Foundation (adds through the gateway's API; the JobQueue object pushes each job to a service on the kit)", foundation],
  ] as const;
  for (const [side, who, runs] of sides) {
    const baseline = (metric: string) => (side === "foundation" ? { baseline: `jobs.bullmq.${metric}` } : {});
    recordFigure({
      name: `jobs.${side}.throughput`,
      unit: "jobs/s",
      ...of(runs.throughput, (r) => r.jobsPerSec, 1),
      ...baseline("throughput"),
      description: `${who}: ${THROUGHPUT}`,
    });
    const p50 = of(runs.delayed, (r) => r.p50, 1);
    recordFigure({
      name: `jobs.${side}.delay-error`,
      unit: "ms",
      ...p50,
      p99: median(runs.delayed.map((r) => r.p99)),
      ...baseline("delay-error"),
      description: `${who}: ${DELAYED_RUN} (median, p99)`,
    });
    recordFigure({
      name: `jobs.${side}.commands`,
      unit: "commands/job",
      ...of(runs.throughput, (r) => r.clientCommandsPerJob, 3),
      ...baseline("commands"),
      description:
        side === "bullmq"
          ? `${who}: Redis commands its clients sent per job (what Upstash would bill; a script is one), adds and processing, over the throughput run`
          : `${who}: commands at the Upstash endpoint per job (what Upstash bills), over the throughput run`,
    });
    recordFigure({
      name: `jobs.${side}.redis-commands`,
      unit: "commands/job",
      ...of(runs.throughput, (r) => r.serverCommandsPerJob, 3),
      ...baseline("redis-commands"),
      description: `${who}: commands redis-server executed per job (INFO commandstats, inside Lua scripts included), over the throughput run`,
    });
  }
  const sql = [
    ["sql-statements", "statements/job", (r: FoundationThroughputRun) => r.statementsPerJob, "SQL statements"],
    ["rows-read", "rows/job", (r: FoundationThroughputRun) => r.rowsReadPerJob, "SQLite rows read (billed per million)"],
    [
      "rows-written",
      "rows/job",
      (r: FoundationThroughputRun) => r.rowsWrittenPerJob,
      "SQLite rows written, indexes included (billed per million)",
    ],
  ] as const;
  for (const [metric, unit, f, what] of sql) {
    recordFigure({
      name: `jobs.foundation.${metric}`,
      unit,
      ...of(foundation.throughput, f, 2),
      description: `Foundation: ${what} per job in the queue's Durable Object, adds and processing, over the throughput run (JobQueue.usage())`,
    });
  }
  recordFigure({
    name: "jobs.foundation.delayed-alarms",
    unit: "alarms/job",
    ...of(foundation.delayed, (r) => r.alarmsPerJob, 3),
    description: `Foundation: alarms the queue object ran per delayed job (each a billed Durable Object request), ${DELAYED_RUN}`,
  });
  const window = `over ${idle.seconds} s with nothing to do, per minute`;
  recordFigure({
    name: "jobs.bullmq.idle-commands",
    unit: "commands/min",
    median: roundTo(idle.bullmqSent, 1),
    description: `BullMQ: Redis commands one idle Worker (concurrency ${CONCURRENCY}, default drainDelay and stalledInterval) sends, ${window}`,
  });
  recordFigure({
    name: "jobs.bullmq.idle-redis-commands",
    unit: "commands/min",
    median: roundTo(idle.bullmqServer, 1),
    description: `BullMQ: commands redis-server executed for one idle Worker (inside Lua scripts included), ${window}`,
  });
  recordFigure({
    name: "jobs.foundation.idle-upstash-commands",
    unit: "commands/min",
    median: roundTo(idle.foundationUpstash, 1),
    baseline: "jobs.bullmq.idle-commands",
    description: `Foundation: commands at the Upstash endpoint from the whole gateway with ${idle.queues} idle queues, ${window}`,
  });
  recordFigure({
    name: "jobs.foundation.idle-sql-statements",
    unit: "statements/min",
    median: roundTo(idle.statements, 2),
    description: `Foundation: SQL statements per idle queue object (${idle.queues} queues, ${idle.evicted} evicted from memory meanwhile and counted from their restart), ${window}`,
  });
  recordFigure({
    name: "jobs.foundation.idle-alarms",
    unit: "alarms/min",
    median: roundTo(idle.alarms, 2),
    description: `Foundation: alarms per idle queue object (${idle.queues} queues; ${idle.withAlarm} had one set at the end), ${window}`,
  });
}

export default defineBench({
  name: "jobs",
  description:
    "job queues vs BullMQ on the same redis-server: jobs/s, delayed-job firing error, Redis commands and DO SQL per job and per idle minute",
  async run(ctx) {
    const token = await benchToken();
    const id = Date.now().toString(36);
    const redis = new Redis(ctx.stack.redis.url, { maxRetriesPerRequest: 1, lazyConnect: true });
    let peer: BullmqPeer | undefined;
    let served: ServedWorkers | undefined;
    try {
      await redis.connect();
      peer = await BullmqPeer.start(ctx, redis);
      served = await serveWorkers(await jobWorkers(ctx));
      ctx.log(`jobs: BullMQ worker process started; serving the gateway and bench-jobs at ${served.url.href}`);
      const foundation = new FoundationJobs(ctx, served, token, redis);
      const queues: string[] = [];
      const fq = (suffix: string) => {
        const name = `bench.jobs.${id}.${suffix}`;
        queues.push(name);
        return name;
      };
      if (ctx.settings.warmupSec > 0) {
        ctx.log(`jobs: warming up both sides with ${fmt(WARMUP_JOBS)} jobs each …`);
        await peer.throughput(`bench-jobs-${id}-warmup`, WARMUP_JOBS);
        await foundation.throughput(fq("warmup"), WARMUP_JOBS);
      }
      const bullmq = { throughput: [] as ThroughputRun[], delayed: [] as DelayedRun[] };
      const ours = { throughput: [] as FoundationThroughputRun[], delayed: [] as FoundationDelayedRun[] };
      for (let i = 1; i <= ctx.settings.repeats; i++) {
        const b = await peer.throughput(`bench-jobs-${id}-r${i}`);
        logThroughput(ctx, "BullMQ", i, b);
        bullmq.throughput.push(b);
        const f = await foundation.throughput(fq(`r${i}`));
        logThroughput(
          ctx,
          "Foundation",
          i,
          f,
          `; SQL ${fmt(f.statementsPerJob, 2)} statements, ${fmt(f.rowsReadPerJob, 1)} rows read, ${fmt(f.rowsWrittenPerJob, 1)} written per job, ${f.alarms} alarms`,
        );
        ours.throughput.push(f);
        ctx.log(`jobs: delayed run ${i}/${ctx.settings.repeats}: ${DELAYED_RUN} …`);
        const bd = await peer.delayed(`bench-jobs-${id}-d${i}`);
        logDelayed(ctx, "BullMQ", i, bd);
        bullmq.delayed.push(bd);
        const fd = await foundation.delayed(fq(`d${i}`));
        logDelayed(ctx, "Foundation", i, fd, `; ${fmt(fd.alarmsPerJob, 3)} alarms per job`);
        ours.delayed.push(fd);
      }
      const idle = await measureIdle(ctx, peer, foundation, queues, id);
      ctx.log(
        `jobs: idle per minute: BullMQ worker ${fmt(idle.bullmqSent, 1)} commands sent (${fmt(idle.bullmqServer, 1)} executed by redis-server); ` +
          `Foundation ${fmt(idle.foundationUpstash, 1)} Upstash commands, ${fmt(idle.statements, 2)} SQL statements and ${fmt(idle.alarms, 2)} alarms per queue ` +
          `(${idle.withAlarm} of ${queues.length} queues with an alarm set, ${idle.evicted} evicted from memory meanwhile)`,
      );
      record(bullmq, ours, idle);
      const tp = median(ours.throughput.map((r) => r.jobsPerSec)) / median(bullmq.throughput.map((r) => r.jobsPerSec));
      ctx.log(`jobs: Foundation runs ${fmt(tp, 3)}× BullMQ's jobs/s on this machine`);
    } catch (err) {
      const output = served?.recentOutput();
      if (output) ctx.log(`jobs: last worker output:\n${output}`);
      throw err;
    } finally {
      await served?.dispose();
      await peer?.close();
      redis.disconnect();
    }
  },
});
