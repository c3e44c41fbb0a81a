/**
 * The event bench's end-to-end figures: publish at a fixed rate through the gateway → the stream's consumer
 * objects → bench-sink, a service on the kit; deliveries per second, their latency and the Redis commands they
 * cost in steady state, then what an idle subscription costs per minute.
 */
import { setMaxListeners } from "node:events";
import type { Redis } from "ioredis";
import type { BenchContext } from "./context.ts";
import { EVENT, fmt } from "./event-publish.ts";
import { sinkCount, sinkStats, subscribeSink } from "./event-workers.ts";
import type { ServedWorkers } from "./miniflare.ts";
import { commandCalls, commandDelta, upstashCommands } from "./redis-commands.ts";
import { recordFigure } from "./results.ts";
import { median, roundTo } from "./stats.ts";
import { histogramDelta, histogramPercentile, SINK_STREAMS } from "../workers/event-sink.ts";

/**
 * End-to-end publish rates (events/s), events per publish request at that rate (10 ms apart), and the partitions
 * of the topic: 10,000/s on one partition (one consumer object), 20,000/s on a topic of 4, which is what
 * `npm run capacity` plans for 20,000 events/s at `batchSize` 1,000 (3). More partitions than that cost more
 * than they give: a publish writes one script per partition its batch touches, and each consumer's rounds get
 * smaller. On 16 partitions the same load measured p99 238–275 ms, on 4 92–204 ms (see docs/capacity.md).
 */
export const E2E_RATES = [
  { rate: 10_000, batch: 100, stream: SINK_STREAMS[0], partitions: 1 },
  { rate: 20_000, batch: 200, stream: SINK_STREAMS[1], partitions: 4 },
] as const;

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
export async function measureEndToEnd(ctx: BenchContext, redis: Redis, served: ServedWorkers, token: string) {
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
    const p99s = runs.map((r) => r.p99);
    recordFigure({
      name: `${name}.p99.worst-window`,
      unit: "ms",
      median: Math.max(...p99s),
      description: `${what}: delivery latency p99 of the worst window (each window's: ${p99s.join(", ")} ms)`,
      samples: p99s,
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
