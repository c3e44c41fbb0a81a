/**
 * Live subscriptions (issue 21): 1,000 SSE listeners on one stream while the gateway takes 1,000 events/s for 30 s.
 * Every listener must receive every event; the publish → receive latency (p50/p99, sampled on every 20th listener,
 * from the time the publisher put in each event just before sending its batch) is compared with one listener alone
 * at the same rate, measured in the same run. The fan-out object's cost is read from the workerd process: resident
 * memory before and with the listeners, and CPU seconds per event delivered. The listeners run in a Node process of
 * their own (bench/lib/live-listener-process.ts) and read their sockets as cheaply as a client can, since they share
 * the machine's cores with workerd.
 */
import { SignJWT } from "jose";
import { defineBench, type BenchContext } from "./lib/context.ts";
import { BENCH_JWT_SECRET } from "./lib/auth.ts";
import { gatewayWorker } from "./lib/event-workers.ts";
import { percentile } from "./lib/latency.ts";
import { ListenerPool, rssKb } from "./lib/live-listeners.ts";
import { cpuSeconds } from "./lib/process-cpu.ts";
import { serveWorkers } from "./lib/miniflare.ts";
import { recordFigure } from "./lib/results.ts";
import { roundTo } from "./lib/stats.ts";

const LISTENERS = Number(process.env.BENCH_LIVE_LISTENERS ?? 1000);
/**
 * WebSocket listeners in their own run, batched (`?batch=true`: one array message per read). Unbatched, one message
 * per event costs workerd about ten times the CPU per delivery of SSE: 200 such listeners at this rate saturate it.
 */
const WS_LISTENERS = Number(process.env.BENCH_LIVE_WS_LISTENERS ?? 1000);
const WS_SECONDS = 15;
const RATE = 1000;
const SECONDS = Number(process.env.BENCH_LIVE_SECONDS ?? 30);
/** Events per publish request: one batch every 50 ms. */
const BATCH = 50;
/** Listeners per token subject: the gateway allows 20 connections per subject and stream. */
const PER_SUBJECT = 10;
/** Every SAMPLE_EVERY-th listener records latencies. */
const SAMPLE_EVERY = 20;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function token(subject: string, scope: string): Promise<string> {
  return new SignJWT({ scope })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(subject)
    .setIssuer("foundation-local")
    .setAudience("foundation")
    .setExpirationTime("2h")
    .sign(new TextEncoder().encode(BENCH_JWT_SECRET));
}

/** Publishes RATE events/s for `seconds` in batches, each event carrying the ms it was sent at; resolves with the count accepted. */
async function publishAtRate(base: URL, stream: string, auth: string, seconds: number, signal: AbortSignal): Promise<number> {
  const url = new URL(`/api/foundation/events/${stream}/batch`, base);
  const batches = (seconds * RATE) / BATCH;
  const interval = (1000 * BATCH) / RATE;
  const started = Date.now();
  const pending: Array<Promise<number>> = [];
  const failures: unknown[] = [];
  for (let i = 0; i < batches && !signal.aborted; i++) {
    const wait = started + i * interval - Date.now();
    if (wait > 0) await sleep(wait);
    const t = Date.now();
    const body = JSON.stringify(Array.from({ length: BATCH }, () => ({ type: "bench.live", data: { t } })));
    // An Idempotency-Key per batch: a batch retried after a dropped connection is stored once.
    const key = `live-${started}-${i}`;
    const send = async (attempt: number): Promise<number> => {
      try {
        const res = await fetch(url, {
          method: "POST",
          headers: { authorization: auth, "content-type": "application/json", "accept-encoding": "identity", "idempotency-key": key },
          body,
        });
        await res.arrayBuffer();
        if (res.status !== 202) throw new Error(`publish answered ${res.status}`);
        return BATCH;
      } catch (err) {
        if (attempt >= 3 || signal.aborted) throw err;
        return send(attempt + 1);
      }
    };
    // Handled at once: a batch that fails for good must not end the process before the run can report it.
    pending.push(send(1).catch((err: unknown) => (failures.push(err), 0)));
  }
  const accepted = (await Promise.all(pending)).reduce((a, b) => a + b, 0);
  if (failures.length > 0) throw new Error(`${failures.length} publish batches failed; the first: ${String(failures[0])}`);
  return accepted;
}

interface Run {
  complete: number;
  p50: number;
  p99: number;
  published: number;
  workerdRssKbBefore: number;
  /** With the listeners connected, before any event was published to them. */
  workerdRssKbConnected: number;
  workerdRssKbWith: number;
  cpuPerEventUs: number;
}

async function run(
  ctx: BenchContext,
  base: URL,
  workerd: number,
  listeners: number,
  seconds: number,
  mode: "sse" | "ws" = "sse",
): Promise<Run> {
  const stream = `bench.live.${mode}.${listeners}.${Date.now()}`;
  const publisher = `Bearer ${await token("bench-live-publisher", "publish")}`;
  await publishAtRate(base, stream, publisher, (1000 * BATCH) / RATE / 1000, ctx.signal); // creates the stream
  const rssBefore = rssKb(workerd);
  const tokens = await Promise.all(Array.from({ length: Math.ceil(listeners / PER_SUBJECT) }, (_, i) => token(`bench-live-${i}`, "read")));
  const pool = await ListenerPool.start();
  try {
    const opened = await pool.open(
      new URL(`/api/foundation/events/${stream}/live`, base),
      tokens.map((t) => `Bearer ${t}`),
      listeners,
      PER_SUBJECT,
      SAMPLE_EVERY,
      mode,
    );
    ctx.log(`live: ${opened} listeners connected to ${stream}`);
    const rssConnected = rssKb(workerd);
    const cpuBefore = cpuSeconds(workerd);
    const clientCpuBefore = pool.cpuSeconds();
    const benchCpuBefore = cpuSeconds(process.pid);
    const startedAt = performance.now();
    const published = await publishAtRate(base, stream, publisher, seconds, ctx.signal);
    const drained = await pool.drain(published, 10_000);
    const cpu = cpuSeconds(workerd) - cpuBefore;
    const wall = (performance.now() - startedAt) / 1000;
    // The two cores are shared: how busy each party kept them says whose CPU the latency waited for.
    const share = (used: number) => `${Math.round((100 * used) / wall)} %`;
    ctx.log(
      `live: CPU over ${wall.toFixed(1)} s: workerd ${share(cpu)}, listener process ${share(pool.cpuSeconds() - clientCpuBefore)}, ` +
        `bench process (publisher, local Upstash and Neon endpoints) ${share(cpuSeconds(process.pid) - benchCpuBefore)} of one core`,
    );
    const rssWith = rssKb(workerd);
    // The seconds of publishing whose events waited longest: a stall shows as one or two seconds far above the rest.
    const bySecond = new Map<number, number[]>();
    const origin = drained.publishedAt.reduce((a, b) => Math.min(a, b), Infinity);
    drained.publishedAt.forEach((t, i) => {
      const second = Math.floor((t - origin) / 1000);
      const bucket = bySecond.get(second) ?? [];
      bucket.push(drained.latencies[i] ?? 0);
      bySecond.set(second, bucket);
    });
    const worst = [...bySecond]
      .map(([second, ls]) => ({
        second,
        p99: percentile(
          ls.sort((a, b) => a - b),
          99,
        ),
      }))
      .sort((a, b) => b.p99 - a.p99)
      .slice(0, 3);
    ctx.log(`live: worst seconds of publishing by p99: ${worst.map((w) => `s${w.second} ${Math.round(w.p99)} ms`).join(", ")}`);
    const latencies = drained.latencies.sort((a, b) => a - b);
    const counts = drained.counts.sort((a, b) => a - b);
    const complete = counts.filter((n) => n === published).length;
    ctx.log(
      `live: events received per listener: min ${counts[0]}, median ${counts[Math.floor(counts.length / 2)]}, max ${counts.at(-1)} of ${published}`,
    );
    return {
      complete,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      published,
      workerdRssKbBefore: rssBefore,
      workerdRssKbConnected: rssConnected,
      workerdRssKbWith: rssWith,
      cpuPerEventUs: roundTo((cpu * 1e6) / Math.max(1, published * listeners), 2),
    };
  } finally {
    await pool.stop();
  }
}

export default defineBench({
  name: "live",
  description: `live subscriptions: ${LISTENERS} SSE listeners on one stream at ${RATE} events/s for ${SECONDS} s, latency vs one listener, workerd memory and CPU; ${WS_LISTENERS} WebSocket listeners`,
  async run(ctx) {
    const served = await serveWorkers([{ ...gatewayWorker(ctx, {}), serviceBindings: {} }]);
    try {
      const workerd = served.pid;
      if (workerd === undefined) throw new Error("cannot find the workerd process Miniflare started");
      const one = await run(ctx, served.url, workerd, 1, 10);
      ctx.log(`live: 1 listener, ${one.published} events: p50 ${one.p50} ms, p99 ${one.p99} ms`);
      const many = await run(ctx, served.url, workerd, LISTENERS, SECONDS);
      ctx.log(
        `live: ${LISTENERS} listeners, ${many.published} events each: ${many.complete} complete, p50 ${many.p50} ms, p99 ${many.p99} ms, ` +
          `workerd RSS ${Math.round(many.workerdRssKbBefore / 1024)} → ${Math.round(many.workerdRssKbConnected / 1024)} (connected) → ${Math.round(many.workerdRssKbWith / 1024)} MiB, ${many.cpuPerEventUs} µs CPU per event delivered`,
      );
      const ws = await run(ctx, served.url, workerd, WS_LISTENERS, WS_SECONDS, "ws");
      ctx.log(
        `live: ${WS_LISTENERS} WebSocket listeners, ${ws.published} events each: ${ws.complete} complete, p50 ${ws.p50} ms, p99 ${ws.p99} ms, ` +
          `${ws.cpuPerEventUs} µs CPU per event delivered`,
      );
      recordFigure({
        name: "live.ws.p50",
        unit: "ms",
        median: ws.p50,
        p99: ws.p99,
        baseline: "live.one.p50",
        description: `${WS_LISTENERS} WebSocket listeners (\`batch=true\`: one array message per read), ${RATE} events/s for ${WS_SECONDS} s: publish → receive p50 (and p99)`,
      });
      recordFigure({
        name: "live.ws.complete",
        unit: "listeners",
        median: ws.complete,
        description: `WebSocket listeners that received all ${ws.published} events, of ${WS_LISTENERS}`,
      });
      recordFigure({
        name: "live.ws.cpu-per-delivery",
        unit: "µs",
        median: ws.cpuPerEventUs,
        baseline: "live.fanout.cpu-per-delivery",
        description: "workerd CPU (user + system) per event delivered to one batched WebSocket listener, publishing included",
      });
      const what = `${RATE} events/s for ${SECONDS} s through the gateway's batch publish, SSE via one LiveStream object`;
      recordFigure({
        name: "live.one.p99",
        unit: "ms",
        median: one.p99,
        description: `1 SSE listener, ${RATE} events/s for 10 s: publish → receive p99`,
      });
      recordFigure({ name: "live.one.p50", unit: "ms", median: one.p50, description: "1 SSE listener: publish → receive p50" });
      recordFigure({
        name: "live.fanout.p50",
        unit: "ms",
        median: many.p50,
        baseline: "live.one.p50",
        description: `${LISTENERS} SSE listeners, ${what}: publish → receive p50 (every ${SAMPLE_EVERY}th listener sampled)`,
      });
      recordFigure({
        name: "live.fanout.p99",
        unit: "ms",
        median: many.p99,
        baseline: "live.one.p99",
        description: `${LISTENERS} SSE listeners: publish → receive p99 (goal < 250 ms)`,
      });
      recordFigure({
        name: "live.fanout.complete",
        unit: "listeners",
        median: many.complete,
        description: `listeners that received all ${many.published} events, of ${LISTENERS}`,
      });
      recordFigure({
        name: "live.fanout.workerd-rss-connected",
        unit: "MiB",
        median: roundTo((many.workerdRssKbConnected - many.workerdRssKbBefore) / 1024, 1),
        description: `workerd resident memory with ${LISTENERS} listeners connected and nothing published yet, minus before they connected`,
      });
      recordFigure({
        name: "live.fanout.workerd-rss-added",
        unit: "MiB",
        median: roundTo((many.workerdRssKbWith - many.workerdRssKbBefore) / 1024, 1),
        description: `workerd resident memory with ${LISTENERS} listeners after the run, minus before they connected`,
      });
      recordFigure({
        name: "live.fanout.cpu-per-delivery",
        unit: "µs",
        median: many.cpuPerEventUs,
        description: "workerd CPU (user + system) per event delivered to one listener, publishing included",
      });
    } finally {
      await served.dispose();
    }
  },
});
