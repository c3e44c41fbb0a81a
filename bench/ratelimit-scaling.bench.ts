/**
 * Sharding a hot rate-limit key: decisions per second on ONE key whose quota is split over 1, 4 and 16 shards
 * (`policy.shards`), with a limit never reached, so every decision is an allowed one from the limiter objects.
 *
 * Two views: through HTTP under wrk (`GET /decide` of bench/workers/ratelimit.ts, one decision per request, beside
 * a no-decision floor that shows the HTTP ceiling), and inside workerd without HTTP (`GET /burst`: as many loops of
 * decisions as wrk has connections, for `BENCH_DURATION` seconds). During each burst the bench samples the CPU time
 * of every workerd thread from /proc (Linux): the busiest thread's share of a core tells whether the shards could
 * run in parallel here at all.
 *
 * What to expect on one machine: workerd runs the JavaScript of every isolate and every Durable Object of the
 * process on its one main thread, including the objects' SQLite commits (one `fsync` each, seen with strace;
 * the key's limit of 1e9 lets its objects store write-ahead headroom, so they commit about once per 100 ms of
 * traffic). The shards queue for that thread like one object does, so more shards only add per-object overhead
 * here; on Cloudflare each object runs apart, which is what sharding buys.
 * These figures show sharding's local cost and the shape of the curve, not its production gain.
 *
 * A third view gives each shard's object its own workerd process, as on Cloudflare, where objects do not share
 * a thread: for `n` shards, `n` processes each run the bench worker and the `RateLimiter` class, and each drives
 * one shard of the same key through `checkRateLimit` (its shard pick pinned with `&shard=i`) with as many loops
 * as wrk has connections, all at once. Their decisions per second add up to what the key absorbs; the CPU time
 * of every workerd thread shows how many of this machine's cores that took, which is where the curve flattens.
 */
import { availableParallelism } from "node:os";
import { resolve } from "node:path";
import { BENCH_JWT_SECRET } from "./lib/auth.ts";
import { defineBench, type BenchContext } from "./lib/context.ts";
import { SequentialHttpClient } from "./lib/latency.ts";
import { bundledWorker, stackBindings, withWorkers, type BenchWorker } from "./lib/miniflare.ts";
import { LIMITER_CLASS, rateLimitBenchWorker } from "./lib/ratelimit-worker.ts";
import { recordFigure } from "./lib/results.ts";
import { median, roundTo } from "./lib/stats.ts";
import { childProcesses, threadLoad, threadTimes, type ThreadLoad } from "./lib/threads.ts";
import { checkEndpoint, ensureWrk, measureHttp, type HttpTarget } from "./lib/wrk.ts";
import { SHARD_COUNTS, type BurstAnswer, type DecideAnswer, type Variant } from "./workers/ratelimit-api.ts";

const variantOf = (shards: number) => `ours.shards-${shards}` as Variant;
const figureOf = (shards: number) => `ratelimit.shards.${shards}`;
const percent = (share: number) => `${Math.round(share * 100)} %`;

/** The workers: the bench worker, and the gateway bundle only to host the `RateLimiter` class as deployed. */
async function scalingWorkers(ctx: BenchContext): Promise<BenchWorker[]> {
  const at = (...p: string[]) => resolve(ctx.root, ...p);
  const gatewayConfig = at("wrangler.toml");
  const sqlite = (className: string) => ({ className, useSQLite: true });
  const gateway: BenchWorker = {
    ...bundledWorker(at("dist/gateway/index.js"), gatewayConfig, {
      ...stackBindings(ctx.stack),
      JWT_SECRET: BENCH_JWT_SECRET,
      RATE_LIMIT_POLICIES: "[]",
    }),
    durableObjects: {
      RATE_LIMITER: LIMITER_CLASS,
      SERVICE_REGISTRY: sqlite("ServiceRegistry"),
      SERVICE_DIRECTORY: sqlite("ServiceDirectory"),
      METRICS_AGGREGATOR: sqlite("MetricsAggregator"),
    },
  };
  const bench = await rateLimitBenchWorker(ctx);
  return [bench, gateway];
}

/** Decisions per second through HTTP under wrk: `ratelimit.shards.<n>.rps` and `.p50` (with p99), and the floor. */
async function measureOverHttp(ctx: BenchContext, base: URL, runId: string) {
  const url = (variant: Variant, key: string) => {
    const u = new URL("/decide", base);
    u.searchParams.set("variant", variant);
    u.searchParams.set("key", key);
    return u.href;
  };
  const floor: HttpTarget = {
    label: "no decision (floor)",
    figure: "ratelimit.shards.floor",
    url: url("none", "floor"),
    description: "`GET /decide?variant=none` on the rate-limit bench worker: the same request taking no decision (HTTP ceiling)",
  };
  const sharded = SHARD_COUNTS.map((n): HttpTarget => ({
    label: `one hot key, ${n} shard${n === 1 ? "" : "s"}`,
    figure: figureOf(n),
    url: url(variantOf(n), `bench:${runId}:http-hot-${n}`),
    description: `\`checkRateLimit\` on one hot key, sliding window over ${n} shard${n === 1 ? "" : "s"} (never refused), one decision per request, under wrk`,
    ...(n === 1 ? {} : { baseline: figureOf(1) }),
  }));
  for (const t of [floor, ...sharded]) {
    const source = t === floor ? "none" : "limiter";
    await checkEndpoint(
      t.url,
      (body) => (body as Partial<DecideAnswer> | null)?.allowed === true && (body as DecideAnswer).source === source,
      ctx.signal,
    );
  }
  return measureHttp(ctx, [floor, ...sharded]);
}

/** One burst's decisions per second and the load of workerd's threads meanwhile. */
interface BurstRun {
  dps: number;
  threads: ThreadLoad[];
}

/**
 * One `/burst` of decisions on `key` over `shards` shards (pinned to `shard` when given) for `seconds`, with
 * `concurrency` loops; fails unless every decision was an allowed one. Answers decisions per second.
 */
async function burstOn(ctx: BenchContext, base: URL, q: { shards: number; key: string; seconds: number; shard?: number }) {
  const u = new URL("/burst", base);
  u.searchParams.set("variant", variantOf(q.shards));
  u.searchParams.set("key", q.key);
  if (q.shard !== undefined) u.searchParams.set("shard", String(q.shard));
  u.searchParams.set("concurrency", String(ctx.settings.connections));
  u.searchParams.set("ms", String(q.seconds * 1000));
  // A connection per burst: workerd reset a kept-alive one after a few multi-second answers under load.
  const client = new SequentialHttpClient();
  const r = await client.get(u.href, ctx.signal).finally(() => client.close());
  const answer = r.body as BurstAnswer;
  if (r.status !== 200 || answer.decisions === 0 || answer.allowed !== answer.decisions) {
    throw new Error(`/burst with ${q.shards} shards answered ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
  }
  return (answer.decisions / answer.elapsedMs) * 1000;
}

/** Decisions per second inside workerd (no HTTP), and how busy workerd's threads were: `.direct.dps` and `.direct.cpu`. */
async function measureInWorkerd(ctx: BenchContext, base: URL, runId: string) {
  const workerd = childProcesses("workerd");
  if (workerd.length !== 1) ctx.log(`ratelimit-scaling: found ${workerd.length} workerd processes; thread loads are not measured`);
  const pid = workerd.length === 1 ? workerd[0] : undefined;
  const { connections: concurrency, durationSec, warmupSec, repeats } = ctx.settings;
  const burst = async (shards: number, seconds: number): Promise<BurstRun> => {
    const before = pid === undefined ? [] : threadTimes(pid);
    const started = performance.now();
    const dps = await burstOn(ctx, base, { shards, key: `bench:${runId}:direct-hot-${shards}`, seconds });
    const elapsedSec = (performance.now() - started) / 1000;
    const threads = pid === undefined ? [] : threadLoad(before, threadTimes(pid), elapsedSec);
    return { dps, threads };
  };
  const runs = new Map<number, BurstRun[]>(SHARD_COUNTS.map((n) => [n, []]));
  if (warmupSec > 0) for (const n of SHARD_COUNTS) await burst(n, warmupSec);
  for (let i = 1; i <= repeats; i++) {
    for (const n of SHARD_COUNTS) {
      const r = await burst(n, durationSec);
      runs.get(n)?.push(r);
      const busy = r.threads.filter((t) => t.share >= 0.05).map((t) => `${t.name}/${t.tid} ${percent(t.share)}`);
      ctx.log(
        `ratelimit-scaling in workerd ${i}/${repeats}, ${n} shards: ${Math.round(r.dps).toLocaleString("en-US")} decisions/s ` +
          `with ${concurrency} loops; workerd threads above 5 % of a core: ${busy.join(", ") || "none measured"}`,
      );
    }
  }
  const results = new Map<number, { dps: number; busiest?: number }>();
  for (const n of SHARD_COUNTS) {
    const of = runs.get(n) ?? [];
    const dps = of.map((r) => roundTo(r.dps, 1));
    const result: { dps: number; busiest?: number } = { dps: median(dps) };
    recordFigure({
      name: `${figureOf(n)}.direct.dps`,
      unit: "decisions/s",
      median: roundTo(result.dps, 1),
      ...(n === 1 ? {} : { baseline: `${figureOf(1)}.direct.dps` }),
      description: `\`checkRateLimit\` on one hot key over ${n} shard${n === 1 ? "" : "s"}, ${concurrency} concurrent loops inside workerd, no HTTP`,
      samples: dps,
    });
    if (pid !== undefined) {
      const busiest = of.map((r) => roundTo((r.threads[0]?.share ?? 0) * 100, 1));
      result.busiest = median(busiest) / 100;
      recordFigure({
        name: `${figureOf(n)}.direct.cpu`,
        unit: "% of a core",
        median: median(busiest),
        description: `the busiest workerd thread during the ${n}-shard loops (CPU time from /proc; 100 % = one core kept busy)`,
        samples: busiest,
      });
    }
    results.set(n, result);
  }
  return results;
}

/** CPU time of every thread of `pids` so far, in seconds. */
const cpuSeconds = (pids: readonly number[]) => pids.flatMap(threadTimes).reduce((sum, t) => sum + t.cpuSec, 0);

/**
 * Decisions per second of one hot key when each of its shards' objects runs in its own workerd process, all
 * driven at once: `ratelimit.shards.<n>.processes.dps`, and the cores that took (`.processes.cores`).
 */
async function measureAcrossProcesses(ctx: BenchContext, runId: string) {
  const { durationSec, warmupSec, repeats } = ctx.settings;
  const results = new Map<number, { dps: number; cores: number }>();
  for (const n of SHARD_COUNTS) {
    const groups: Record<string, BenchWorker[]> = {};
    for (let i = 0; i < n; i++) groups[`shard ${i} of ${n}`] = await scalingWorkers(ctx);
    const key = `bench:${runId}:processes-hot-${n}`;
    const runs = await withWorkers(groups, ctx.log, async (urls) => {
      const bases = Object.values(urls);
      const pids = childProcesses("workerd");
      const all = async (seconds: number) => {
        const before = cpuSeconds(pids);
        const started = performance.now();
        const each = await Promise.all(bases.map((base, shard) => burstOn(ctx, base, { shards: n, key, seconds, shard })));
        const cores = (cpuSeconds(pids) - before) / ((performance.now() - started) / 1000);
        return { dps: each.reduce((a, b) => a + b, 0), cores };
      };
      if (warmupSec > 0) await all(warmupSec);
      const measured: { dps: number; cores: number }[] = [];
      for (let i = 1; i <= repeats; i++) {
        const r = await all(durationSec);
        measured.push(r);
        ctx.log(
          `ratelimit-scaling, ${n} shard${n === 1 ? "" : "s"} in ${n} workerd process${n === 1 ? "" : "es"} ${i}/${repeats}: ` +
            `${Math.round(r.dps).toLocaleString("en-US")} decisions/s, workerd busy ${r.cores.toFixed(2)} cores`,
        );
      }
      return measured;
    });
    const dps = runs.map((r) => roundTo(r.dps, 1));
    const cores = runs.map((r) => roundTo(r.cores, 2));
    recordFigure({
      name: `${figureOf(n)}.processes.dps`,
      unit: "decisions/s",
      median: median(dps),
      ...(n === 1 ? {} : { baseline: `${figureOf(1)}.processes.dps` }),
      description:
        `one hot key over ${n} shard${n === 1 ? "" : "s"}, each shard's object in its own workerd process (as on Cloudflare), ` +
        `each driven by ${ctx.settings.connections} loops of \`checkRateLimit\` inside its process, all at once; decisions/s summed`,
      samples: dps,
    });
    recordFigure({
      name: `${figureOf(n)}.processes.cores`,
      unit: "cores",
      median: median(cores),
      description: `CPU time of all ${n} workerd process${n === 1 ? "" : "es"} during those loops, in cores kept busy (this machine has ${availableParallelism()})`,
      samples: cores,
    });
    results.set(n, { dps: median(dps), cores: median(cores) });
  }
  return results;
}

export default defineBench({
  name: "ratelimit-scaling",
  description:
    "decisions/s on one hot rate-limit key split over 1, 4 and 16 shards: through HTTP under wrk, inside one workerd, and with each shard in its own workerd process",
  async run(ctx) {
    await ensureWrk(ctx.log, ctx.signal);
    const runId = Date.now().toString(36);
    const workers = await scalingWorkers(ctx);
    const { http, direct } = await withWorkers({ scaling: workers }, ctx.log, async (urls) => ({
      http: await measureOverHttp(ctx, urls.scaling, runId),
      direct: await measureInWorkerd(ctx, urls.scaling, runId),
    }));
    const processes = await measureAcrossProcesses(ctx, runId);
    const one = { http: http.get(figureOf(1))?.rps ?? Number.NaN, direct: direct.get(1)?.dps ?? Number.NaN };
    for (const n of SHARD_COUNTS) {
      const h = http.get(figureOf(n));
      const d = direct.get(n);
      if (!h || !d) continue;
      ctx.log(
        `ratelimit-scaling: ${String(n).padStart(2)} shards: ${Math.round(h.rps).toLocaleString("en-US")} req/s over HTTP ` +
          `(${(h.rps / one.http).toFixed(2)}× 1 shard, p50 ${h.p50.toFixed(2)} ms, p99 ${h.p99.toFixed(2)} ms); ` +
          `${Math.round(d.dps).toLocaleString("en-US")} decisions/s inside workerd (${(d.dps / one.direct).toFixed(2)}× 1 shard` +
          (d.busiest === undefined ? ")" : `, busiest workerd thread ${percent(d.busiest)} of a core)`),
      );
    }
    const most = SHARD_COUNTS[SHARD_COUNTS.length - 1] ?? 1;
    const gain = (direct.get(most)?.dps ?? 0) / one.direct;
    if (gain < 1.2) {
      ctx.log(
        `ratelimit-scaling: ${most} shards gave ${gain.toFixed(2)}× the decisions of one inside workerd: every object shares ` +
          "workerd's main thread here (the only busy one above) and commits each decision on it, so shards cannot run in parallel on this machine",
      );
    }
    const single = processes.get(1)?.dps ?? Number.NaN;
    for (const [n, p] of processes) {
      ctx.log(
        `ratelimit-scaling: ${String(n).padStart(2)} shards, one workerd process each: ${Math.round(p.dps).toLocaleString("en-US")} ` +
          `decisions/s (${(p.dps / single).toFixed(2)}× 1 shard) on ${p.cores.toFixed(2)} of ${availableParallelism()} cores`,
      );
    }
    const floor = http.get("ratelimit.shards.floor");
    if (floor) ctx.log(`ratelimit-scaling: the same request without a decision: ${Math.round(floor.rps).toLocaleString("en-US")} req/s`);
  },
});
