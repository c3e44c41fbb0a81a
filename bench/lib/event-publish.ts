/**
 * The event bench's publish figures: events/s, latency and Redis commands per event, through the gateway's HTTP
 * API under wrk and straight through `publishEvents` inside workerd, for single events and batches.
 */
import type { Redis } from "ioredis";
import type { BenchContext } from "./context.ts";
import type { PublishAnswer } from "./event-workers.ts";
import { percentile } from "./latency.ts";
import type { ServedWorkers } from "./miniflare.ts";
import { countingCommands } from "./redis-commands.ts";
import { recordFigure } from "./results.ts";
import { median, roundTo } from "./stats.ts";
import { runWrkScript } from "./wrk.ts";

/** Publish variants: events per request or per `publishEvents` call. */
export const BATCHES = [1, 100, 1000] as const;
/** The event every bench request publishes, batched or not. */
export const EVENT = { type: "bench.event", data: { v: "0123456789abcdef" } };

/** A count or rate as the event benches log it: thousands separated, `decimals` places. */
export const fmt = (n: number, decimals = 0) =>
  n.toLocaleString("en-US", { maximumFractionDigits: decimals, minimumFractionDigits: decimals });
/** A batch size as it appears in figure names and log lines. */
export const variantName = (batch: number) => (batch === 1 ? "single" : `batch${batch}`);

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
export async function measureGatewayPublish(ctx: BenchContext, redis: Redis, base: URL, token: string): Promise<Map<number, number>> {
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
export async function measureDirectPublish(ctx: BenchContext, redis: Redis, served: ServedWorkers): Promise<Map<number, number>> {
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
