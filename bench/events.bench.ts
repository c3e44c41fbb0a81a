/**
 * Event bus (issue 5): publish throughput in events/s, single events and batches of 100 and 1,000, through the
 * gateway's HTTP API (under wrk) and straight through the event-bus package inside workerd; the Redis commands
 * each published event costs, counted on the real redis-server (INFO commandstats, script-internal commands
 * included) and at the local Upstash endpoint (what Upstash bills); end-to-end delivery to one consumer group at
 * a fixed publish rate (publish → a service on the kit receives it), its throughput and latency; and the Redis
 * commands an idle subscription costs per minute. Baselines of the same run: redis-benchmark XADD pipelined and
 * not on the same redis-server, and moleculer-channels' published 4,081 msg/s as a stated constant.
 */
import { setMaxListeners } from "node:events";
import { resolve } from "node:path";
import { Redis } from "ioredis";
import { defineBench, type BenchContext } from "./lib/context.ts";
import { percentile } from "./lib/latency.ts";
import { benchToken } from "./lib/auth.ts";
import { gatewayWorker, sinkCount, sinkStats, sinkWorker, subscribeSink, type PublishAnswer } from "./lib/event-workers.ts";
import { benchOnlyWorker, serveWorkers, upstashBindings, type ServedWorkers } from "./lib/miniflare.ts";
import { runRedisBenchmark } from "./lib/redis-benchmark.ts";
import { recordFigure } from "./lib/results.ts";
import { median, roundTo } from "./lib/stats.ts";
import { ensureWrk, runWrkScript } from "./lib/wrk.ts";
import { histogramDelta, histogramPercentile, SINK_STREAMS } from "./workers/event-sink.ts";

/** moleculer-channels' Redis Streams adapter, as quoted in issue 5: the closest measured peer (plain TCP). */
const MOLECULER_CHANNELS_MSG_PER_S = 4081;
/** Publish variants: events per request or per `publishEvents` call. */
const BATCHES = [1, 100, 1000] as const;
/**
 * End-to-end publish rates (events/s), events per publish request at that rate (10 ms apart), and the partitions
 * of the topic: 10,000/s on one partition (one consumer object), 20,000/s on a topic of 4, which is what
 * `npm run capacity` plans for 20,000 events/s at `batchSize` 1,000 (3). More partitions than that cost more
 * than they give: a publish writes one script per partition its batch touches, and each consumer's rounds get
 * smaller. On 16 partitions the same load measured p99 238–275 ms, on 4 92–204 ms (see docs/capacity.md).
 */
const E2E_RATES = [
  { rate: 10_000, batch: 100, stream: SINK_STREAMS[0], partitions: 1 },
  { rate: 20_000, batch: 200, stream: SINK_STREAMS[1], partitions: 4 },
] as const;
/** Retention of the bench's streams: long enough that trimming runs (without groups) during the publish figures. */
const RETENTION = { "*": { maxLen: 100_000 } };
const EVENT = { type: "bench.event", data: { v: "0123456789abcdef" } };

const fmt = (n: number, decimals = 0) => n.toLocaleString("en-US", { maximumFractionDigits: decimals, minimumFractionDigits: decimals });
const variantName = (batch: number) => (batch === 1 ? "single" : `batch${batch}`);

/** Calls per command from `INFO commandstats` (lower-case names, `info` itself left out). */
async function commandCalls(redis: Redis): Promise<Map<string, number>> {
  const calls = new Map<string, number>();
  for (const m of (await redis.info("commandstats")).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    if (m[1] !== "info") calls.set(m[1] ?? "", Number(m[2]));
  }
  return calls;
}

/** Redis commands executed between two `commandCalls` snapshots, in total and by command. */
function commandDelta(before: Map<string, number>, after: Map<string, number>): { total: number; byCommand: Record<string, number> } {
  const byCommand: Record<string, number> = {};
  let total = 0;
  for (const [name, n] of after) {
    const d = n - (before.get(name) ?? 0);
    if (d > 0) {
      byCommand[name] = d;
      total += d;
    }
  }
  return { total, byCommand };
}

/** Commands counted at the local Upstash endpoint since its last reset. */
function upstashCommands(ctx: BenchContext): number {
  return Object.values(ctx.stack.stats().upstashCommands).reduce((a, b) => a + b, 0);
}

/** Measures what `run` costs in Redis commands, on the server and at the Upstash endpoint. */
async function countingCommands<T>(ctx: BenchContext, redis: Redis, run: () => Promise<T>) {
  ctx.stack.resetStats();
  const before = await commandCalls(redis);
  const result = await run();
  const server = commandDelta(before, await commandCalls(redis));
  return { result, server, upstash: upstashCommands(ctx) };
}

/** A wrk Lua script that POSTs `body` to `path` with a bearer token. */
function postScript(path: string, body: string, token: string): string {
  return [
    'wrk.method = "POST"',
    `wrk.path = "${path}"`,
    'wrk.headers["content-type"] = "application/json"',
    `wrk.headers["authorization"] = "Bearer ${token}"`,
    `wrk.body = [==[${body}]==]`,
  ].join("\n");
}

/** The figures of one publish variant over `settings.repeats` runs. */
interface PublishRun {
  eps: number;
  p50: number;
  p99: number;
  serverPerEvent: number;
  upstashPerEvent: number;
  byCommand: Record<string, number>;
}

function recordPublishFigures(path: "gateway" | "direct", batch: number, runs: PublishRun[], what: string): void {
  const name = `events.publish.${path}.${variantName(batch)}`;
  const eps = runs.map((r) => roundTo(r.eps, 1));
  recordFigure({
    name: `${name}.eps`,
    unit: "events/s",
    median: median(eps),
    baseline: batch === 1 ? "events.ceiling.xadd.unpipelined.ops" : "events.ceiling.xadd.pipelined.ops",
    description: `${what}: events per second`,
    samples: eps,
  });
  const p50 = runs.map((r) => roundTo(r.p50, 3));
  recordFigure({
    name: `${name}.p50`,
    unit: "ms",
    median: median(p50),
    p99: roundTo(median(runs.map((r) => r.p99)), 3),
    description: `${what}: latency of one ${path === "gateway" ? "request" : "`publishEvents` call"}`,
    samples: p50,
  });
  const server = runs.map((r) => roundTo(r.serverPerEvent, 3));
  const last = runs.at(-1)?.byCommand ?? {};
  const total = Object.values(last).reduce((a, b) => a + b, 0) || 1;
  const mix = Object.entries(last)
    .sort((a, b) => b[1] - a[1])
    .map(([c, n]) => `${c} ${Math.round((n / total) * 100)} %`)
    .join(", ");
  recordFigure({
    name: `${name}.redis-commands`,
    unit: "commands/event",
    median: median(server),
    description: `${what}: commands executed by redis-server per published event (INFO commandstats, inside the Lua script too; ${mix})`,
    samples: server,
  });
  const billed = runs.map((r) => roundTo(r.upstashPerEvent, 4));
  recordFigure({
    name: `${name}.upstash-commands`,
    unit: "commands/event",
    median: median(billed),
    description: `${what}: commands sent to the Upstash REST endpoint per published event (what Upstash bills)`,
    samples: billed,
  });
}

/** Publish throughput through the gateway's HTTP API under wrk, for every batch size. */
async function measureGatewayPublish(ctx: BenchContext, redis: Redis, base: URL, token: string): Promise<Map<number, number>> {
  const { durationSec, warmupSec, repeats, connections } = ctx.settings;
  const medians = new Map<number, number>();
  for (const batch of BATCHES) {
    const stream = `bench.publish.gateway.${variantName(batch)}`;
    const path = `/api/foundation/events/${stream}${batch === 1 ? "" : "/batch"}`;
    const body = JSON.stringify(batch === 1 ? EVENT : Array.from({ length: batch }, () => EVENT));
    const script = postScript(path, body, token);
    if (warmupSec > 0) await runWrkScript(ctx, base, script, warmupSec);
    const runs: PublishRun[] = [];
    for (let i = 1; i <= repeats; i++) {
      const { result: r, server, upstash } = await countingCommands(ctx, redis, () => runWrkScript(ctx, base, script, durationSec));
      const events = r.requests * batch;
      const run: PublishRun = {
        eps: r.requestsPerSec * batch,
        p50: r.latencyMs.p50 ?? Number.NaN,
        p99: r.latencyMs.p99 ?? Number.NaN,
        serverPerEvent: server.total / events,
        upstashPerEvent: upstash / events,
        byCommand: server.byCommand,
      };
      runs.push(run);
      ctx.log(
        `events gateway ${variantName(batch)} ${i}/${repeats} … ${fmt(run.eps)} events/s, p50 ${fmt(run.p50, 2)} ms, p99 ${fmt(run.p99, 2)} ms, ` +
          `${fmt(run.serverPerEvent, 3)} redis commands and ${fmt(run.upstashPerEvent, 4)} Upstash commands per event`,
      );
      await redis.del(stream);
    }
    recordPublishFigures(
      "gateway",
      batch,
      runs,
      `\`POST /api/foundation/events/:stream${batch === 1 ? "" : "/batch"}\` with ${batch === 1 ? "one event" : `${batch} events`} per request, ${connections} wrk connections, JWT checked, retention \`maxLen\` 100,000`,
    );
    medians.set(batch, median(runs.map((r) => r.eps)));
  }
  return medians;
}

/** Publish throughput straight through `publishEvents` inside workerd, 50 concurrent loops. */
async function measureDirectPublish(ctx: BenchContext, redis: Redis, served: ServedWorkers): Promise<Map<number, number>> {
  const { durationSec, repeats, connections } = ctx.settings;
  const medians = new Map<number, number>();
  for (const batch of BATCHES) {
    const stream = `bench.publish.direct.${variantName(batch)}`;
    const call = async (seconds: number): Promise<PublishAnswer> => {
      const url = `http://publisher/publish?stream=${stream}&batch=${batch}&concurrency=${connections}&ms=${seconds * 1000}`;
      const res = await served.fetchWorker("bench-events-publisher", url);
      const body = (await res.json()) as PublishAnswer & { error?: string };
      if (res.status !== 200) throw new Error(`direct publish answered ${res.status}: ${body.error ?? ""}`);
      return body;
    };
    if (ctx.settings.warmupSec > 0) await call(ctx.settings.warmupSec);
    const runs: PublishRun[] = [];
    for (let i = 1; i <= repeats; i++) {
      const { result: a, server, upstash } = await countingCommands(ctx, redis, () => call(durationSec));
      const run: PublishRun = {
        eps: (a.events / a.elapsedMs) * 1000,
        p50: percentile(a.latencies, 50),
        p99: percentile(a.latencies, 99),
        serverPerEvent: server.total / a.events,
        upstashPerEvent: upstash / a.events,
        byCommand: server.byCommand,
      };
      runs.push(run);
      ctx.log(
        `events direct ${variantName(batch)} ${i}/${repeats} … ${fmt(run.eps)} events/s, p50 ${fmt(run.p50)} ms, p99 ${fmt(run.p99)} ms, ` +
          `${fmt(run.serverPerEvent, 3)} redis commands and ${fmt(run.upstashPerEvent, 4)} Upstash commands per event`,
      );
      await redis.del(stream);
    }
    recordPublishFigures(
      "direct",
      batch,
      runs,
      `\`publishEvents\` from @foundation/event-bus inside workerd, ${batch === 1 ? "one event" : `${batch} events`} per call, ${connections} concurrent loops, via the local Upstash endpoint (whole-ms clock)`,
    );
    medians.set(batch, median(runs.map((r) => r.eps)));
  }
  return medians;
}

/** POSTs batches of `batch` events at `rate` events/s for `seconds`, not waiting for answers to send the next. */
async function pacedPublish(base: URL, token: string, stream: string, rate: number, batch: number, seconds: number, signal: AbortSignal) {
  const url = new URL(`/api/foundation/events/${stream}/batch`, base).href;
  const body = JSON.stringify(Array.from({ length: batch }, () => EVENT));
  // Node's fetch asks for gzip, and Miniflare then compresses each JSON answer inside workerd, as Cloudflare's
  // edge does in front of a worker; here that ran on the thread that also delivers (~2.5 % of it in `perf`).
  const headers = { "content-type": "application/json", "accept-encoding": "identity", authorization: `Bearer ${token}` };
  const tickMs = (1000 * batch) / rate;
  const started = performance.now();
  let acked = 0;
  let refused = 0;
  const inFlight: Promise<void>[] = [];
  // One signal for this window's requests, following the run's: every publish in flight holds an abort
  // listener on its signal, and at 20,000 events/s more than 1,500 can be in flight, which set off Node's
  // listener-leak warning once per further request (hundreds of lines in the progress output).
  const window = new AbortController();
  setMaxListeners(0, window.signal);
  const stop = () => window.abort(signal.reason);
  signal.addEventListener("abort", stop, { once: true });
  for (let tick = 0; performance.now() - started < seconds * 1000; tick++) {
    signal.throwIfAborted();
    inFlight.push(
      fetch(url, { method: "POST", headers, body, signal: window.signal }).then(async (res) => {
        await res.arrayBuffer();
        if (res.status === 202) acked += batch;
        else refused += batch;
      }),
    );
    const wait = started + (tick + 1) * tickMs - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  await Promise.all(inFlight).finally(() => signal.removeEventListener("abort", stop));
  return { acked, refused };
}

/** What one steady-state window of an end-to-end run measured. */
interface EndToEndWindow {
  eps: number;
  p50: number;
  p99: number;
  upstashPerEvent: number;
  serverPerEvent: number;
}

/**
 * End-to-end delivery to one group at each rate, in steady state: one publish at a fixed rate runs for the
 * warm-up and `settings.repeats` windows of twice `BENCH_DURATION` back to back (60 s by default), and each
 * window is what the sink received between two snapshots taken while publishing goes on: deliveries per
 * second, their latency and the commands spent meanwhile. Afterwards every acknowledged event must arrive.
 */
async function measureEndToEnd(ctx: BenchContext, redis: Redis, served: ServedWorkers, token: string) {
  const windowSec = ctx.settings.durationSec * 2;
  const warmSec = Math.max(2, ctx.settings.warmupSec);
  const results: Array<{ rate: number; eps: number; p50: number; p99: number }> = [];
  for (const { rate, batch, stream, partitions } of E2E_RATES) {
    await subscribeSink(served.url, token, stream, "bench");
    await sinkStats(served, true);
    const totalSec = warmSec + windowSec * ctx.settings.repeats;
    ctx.log(
      `events end-to-end at ${fmt(rate)}/s: publishing for ${totalSec} s, ${ctx.settings.repeats} windows of ${windowSec} s after ${warmSec} s`,
    );
    const publishing = pacedPublish(served.url, token, stream, rate, batch, totalSec, ctx.signal);
    const snapshot = async () => {
      const at = performance.now();
      const [stats, calls] = await Promise.all([sinkStats(served), commandCalls(redis)]);
      const upstash = upstashCommands(ctx);
      ctx.stack.resetStats();
      return { at, stats, calls, upstash };
    };
    const started = performance.now();
    const until = (sec: number) => new Promise((r) => setTimeout(r, Math.max(0, started + sec * 1000 - performance.now())));
    await until(warmSec);
    let previous = await snapshot();
    const runs: EndToEndWindow[] = [];
    for (let i = 1; i <= ctx.settings.repeats; i++) {
      await until(warmSec + i * windowSec);
      const now = await snapshot();
      const delivered = now.stats.count - previous.stats.count;
      const buckets = histogramDelta(previous.stats.buckets, now.stats.buckets);
      const run: EndToEndWindow = {
        eps: delivered / ((now.at - previous.at) / 1000),
        p50: histogramPercentile(buckets, 50),
        p99: histogramPercentile(buckets, 99),
        upstashPerEvent: now.upstash / delivered,
        serverPerEvent: commandDelta(previous.calls, now.calls).total / delivered,
      };
      runs.push(run);
      ctx.log(
        `events end-to-end at ${fmt(rate)}/s window ${i}/${ctx.settings.repeats} … ${fmt(delivered)} delivered in ${fmt((now.at - previous.at) / 1000, 1)} s = ` +
          `${fmt(run.eps)} events/s, latency p50 ${run.p50} ms, p99 ${run.p99} ms, ` +
          `${fmt(run.upstashPerEvent, 4)} Upstash and ${fmt(run.serverPerEvent, 3)} redis commands per delivered event`,
      );
      previous = now;
    }
    const sent = await publishing;
    let received = 0;
    for (let waited = 0; waited < 60_000; waited += 100) {
      received = (await sinkCount(served)).count;
      if (received >= sent.acked) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    ctx.log(
      `events end-to-end at ${fmt(rate)}/s: ${fmt(sent.acked)} acknowledged (${fmt(sent.refused)} refused), ${fmt(received)} delivered` +
        (received < sent.acked ? ` — ${fmt(sent.acked - received)} NOT delivered within 60 s of the end` : ""),
    );
    const name = `events.e2e.${rate / 1000}k`;
    const what = `publish at ${fmt(rate)} events/s (${batch} per request through the gateway) → ${partitions === 1 ? "one StreamConsumer" : `${partitions} partitions, a StreamConsumer each`} (batchSize 1000) → a service on the kit, one group; ${windowSec}-s windows of one continuous publish, after ${warmSec} s`;
    const eps = runs.map((r) => roundTo(r.eps, 1));
    recordFigure({
      name: `${name}.eps`,
      unit: "events/s",
      median: median(eps),
      baseline: "events.reference.moleculer-channels",
      description: `${what}: events delivered per second`,
      samples: eps,
    });
    const p50 = runs.map((r) => r.p50);
    recordFigure({
      name: `${name}.latency`,
      unit: "ms",
      median: median(p50),
      p99: median(runs.map((r) => r.p99)),
      description: `${what}: delivery latency, from Redis accepting the event to the handler running (median, p99)`,
      samples: p50,
    });
    recordFigure({
      name: `${name}.upstash-commands`,
      unit: "commands/event",
      median: roundTo(median(runs.map((r) => r.upstashPerEvent)), 4),
      description: `${what}: Upstash commands per delivered event, publishing included`,
      samples: runs.map((r) => roundTo(r.upstashPerEvent, 4)),
    });
    recordFigure({
      name: `${name}.redis-commands`,
      unit: "commands/event",
      median: roundTo(median(runs.map((r) => r.serverPerEvent)), 3),
      description: `${what}: redis-server commands per delivered event (INFO commandstats), publishing included`,
      samples: runs.map((r) => roundTo(r.serverPerEvent, 3)),
    });
    results.push({ rate, eps: median(eps), p50: median(p50), p99: median(runs.map((r) => r.p99)) });
  }
  // A minute at the default BENCH_DURATION of 10 s.
  const idleSeconds = ctx.settings.durationSec * 6;
  ctx.stack.resetStats();
  ctx.log(`events: watching the idle subscriptions for ${idleSeconds} s …`);
  await new Promise((r) => setTimeout(r, idleSeconds * 1000));
  // Per consumer object: a subscription on a topic of 16 partitions has 16 of them.
  const consumers = E2E_RATES.reduce((n, r) => n + r.partitions, 0);
  const idle = upstashCommands(ctx) / consumers / (idleSeconds / 60);
  recordFigure({
    name: "events.idle.upstash-commands",
    unit: "commands/min",
    median: roundTo(idle, 1),
    description: `Upstash commands per minute of one idle consumer object (one partition of a subscription; ${consumers} here), over the ${idleSeconds} s after its last delivery (the consumer backs off from 1 s to 1 min)`,
  });
  return results;
}

/** redis-benchmark XADD on the stack's redis-server, pipelined and not: the ceiling the figures are compared with. */
async function measureCeiling(ctx: BenchContext, redis: Redis): Promise<{ pipelined: number; unpipelined: number }> {
  const stream = "bench:events:ceiling";
  // As large as a stored CloudEvent envelope (~250 bytes); redis-benchmark's CSV cannot carry quotes, so no JSON.
  const command = ["XADD", stream, "*", "event", "e".repeat(250)];
  const out = { pipelined: 0, unpipelined: 0 };
  for (const [label, pipeline, requests] of [
    ["pipelined", 100, 500_000],
    ["unpipelined", 1, 100_000],
  ] as const) {
    const rps: number[] = [];
    for (let i = 0; i < ctx.settings.repeats; i++) {
      const row = await runRedisBenchmark({
        port: ctx.stack.redis.port,
        requests,
        clients: ctx.settings.connections,
        pipeline,
        command,
        signal: ctx.signal,
      });
      rps.push(roundTo(row.rps, 1));
      await redis.del(stream);
    }
    out[label] = median(rps);
    recordFigure({
      name: `events.ceiling.xadd.${label}.ops`,
      unit: "ops/s",
      median: median(rps),
      description: `redis-benchmark XADD of one 250-byte field (the size of a stored bench event), ${ctx.settings.connections} clients, ${pipeline > 1 ? `pipeline ${pipeline}` : "unpipelined"}, same redis-server`,
      samples: rps,
    });
    ctx.log(`events ceiling: redis-benchmark XADD ${label} ${fmt(median(rps))} ops/s`);
  }
  return out;
}

export default defineBench({
  name: "events",
  description: "event bus: publish events/s (gateway and package), Redis commands per event, end-to-end delivery, vs redis-benchmark XADD",
  async run(ctx) {
    await ensureWrk(ctx.log, ctx.signal);
    const token = await benchToken();
    const sink = await sinkWorker(ctx);
    const publisher = await benchOnlyWorker(
      "bench-events-publisher",
      resolve(ctx.root, "bench/workers/events-publisher.ts"),
      resolve(ctx.root, "wrangler.toml"),
      { bindings: upstashBindings(ctx.stack) },
    );
    recordFigure({
      name: "events.reference.moleculer-channels",
      unit: "msg/s",
      median: MOLECULER_CHANNELS_MSG_PER_S,
      description: "moleculer-channels' Redis Streams adapter as quoted in issue 5 (plain TCP): a stated constant, not measured here",
    });
    const redis = new Redis(ctx.stack.redis.url, { maxRetriesPerRequest: 1, lazyConnect: true });
    const served = await serveWorkers([
      gatewayWorker(ctx, {
        STREAM_RETENTION: JSON.stringify(RETENTION),
        STREAM_PARTITIONS: JSON.stringify(Object.fromEntries(E2E_RATES.map((r) => [r.stream, r.partitions]))),
      }),
      sink,
      publisher,
    ]);
    try {
      await redis.connect();
      ctx.log(`events: serving the gateway, bench-sink and bench-events-publisher at ${served.url.href}`);
      const ceiling = await measureCeiling(ctx, redis);
      const gateway = await measureGatewayPublish(ctx, redis, served.url, token);
      const direct = await measureDirectPublish(ctx, redis, served);
      const e2e = await measureEndToEnd(ctx, redis, served, token);
      const best = Math.max(...gateway.values());
      ctx.log(
        `events: gateway publish ${BATCHES.map((b) => `${variantName(b)} ${fmt(gateway.get(b) ?? 0)}`).join(", ")} events/s; ` +
          `package ${BATCHES.map((b) => `${variantName(b)} ${fmt(direct.get(b) ?? 0)}`).join(", ")} events/s; ` +
          `best gateway figure = ${fmt(best / ceiling.pipelined, 3)}× the pipelined XADD ceiling (target 10,000+ events/s: ${best >= 10_000 ? "met" : "MISSED"})`,
      );
      for (const r of e2e) {
        ctx.log(
          `events: end-to-end at ${fmt(r.rate)}/s delivered ${fmt(r.eps)} events/s = ${fmt(r.eps / MOLECULER_CHANNELS_MSG_PER_S, 2)}× moleculer-channels, ` +
            `${fmt(r.eps / ceiling.pipelined, 3)}× the pipelined XADD ceiling; latency p50 ${r.p50} ms, p99 ${r.p99} ms`,
        );
      }
    } catch (err) {
      const output = served.recentOutput();
      if (output) ctx.log(`events: last worker output:\n${output}`);
      throw err;
    } finally {
      redis.disconnect();
      await served.dispose();
    }
  },
});
