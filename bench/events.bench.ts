/**
 * Event bus (issue 5): publish throughput in events/s, single events and batches of 100 and 1,000, through the
 * gateway's HTTP API (under wrk) and straight through the event-bus package inside workerd; the Redis commands
 * each published event costs, counted on the real redis-server (INFO commandstats, script-internal commands
 * included) and at the local Upstash endpoint (what Upstash bills); end-to-end delivery to one consumer group at
 * a fixed publish rate (publish → a service on the kit receives it), its throughput and latency; and the Redis
 * commands an idle subscription costs per minute. Baselines of the same run: redis-benchmark XADD pipelined and
 * not on the same redis-server, and moleculer-channels' published 4,081 msg/s as a stated constant.
 */
import { resolve } from "node:path";
import { Redis } from "ioredis";
import { defineBench, type BenchContext } from "./lib/context.ts";
import { benchToken } from "./lib/auth.ts";
import { E2E_RATES, measureEndToEnd } from "./lib/event-delivery.ts";
import { BATCHES, fmt, measureDirectPublish, measureGatewayPublish, variantName } from "./lib/event-publish.ts";
import { gatewayWorker, sinkWorker } from "./lib/event-workers.ts";
import { benchOnlyWorker, serveWorkers, upstashBindings } from "./lib/miniflare.ts";
import { runRedisBenchmark } from "./lib/redis-benchmark.ts";
import { recordFigure } from "./lib/results.ts";
import { median, roundTo } from "./lib/stats.ts";
import { ensureWrk } from "./lib/wrk.ts";

/** moleculer-channels' Redis Streams adapter, as quoted in issue 5: the closest measured peer (plain TCP). */
const MOLECULER_CHANNELS_MSG_PER_S = 4081;
/** Retention of the bench's streams: long enough that trimming runs (without groups) during the publish figures. */
const RETENTION = { "*": { maxLen: 100_000 } };

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
