/**
 * Partitioned topics (issue 8): how delivery throughput grows with the partitions of a topic. For 1, 4 and 16
 * partitions, a backlog of events is published first (batches of 1,000 through the gateway, no subscriber yet),
 * then bench-sink subscribes from the beginning and the bench times how long the consumer objects (one per
 * partition) take to deliver all of it. Draining a backlog measures delivery alone: publishing is not in the
 * figure. Every partition count drains topics of its own, so earlier runs' groups never share the work.
 */
import { defineBench } from "./lib/context.ts";
import { benchToken } from "./lib/auth.ts";
import { gatewayWorker, sinkCount, sinkStats, sinkWorker, subscribeSink } from "./lib/event-workers.ts";
import { serveWorkers } from "./lib/miniflare.ts";
import { recordFigure } from "./lib/results.ts";
import { median, roundTo } from "./lib/stats.ts";
import { SCALE_MAX_RUNS, SCALE_PARTITIONS, scaleTopic } from "./workers/event-sink.ts";

/** Events per backlog: several seconds of delivery even at the highest partition count. */
const BACKLOG = 100_000;
/** Events per publish request while building a backlog. */
const BATCH = 1000;
/** Events per delivery round of each consumer object: the subscriptions' default. */
const DELIVERY_BATCH = Number(process.env.SCALE_DELIVERY_BATCH ?? 100);
/** Publish requests in flight while building a backlog. */
const PUBLISH_CONCURRENCY = 4;
/** A backlog not delivered within this long fails the bench. */
const DRAIN_TIMEOUT_MS = 180_000;
const EVENT = { type: "bench.event", data: { v: "0123456789abcdef" } };

const fmt = (n: number, decimals = 0) => n.toLocaleString("en-US", { maximumFractionDigits: decimals, minimumFractionDigits: decimals });

/** Publishes `BACKLOG` subject-less events to `topic` (spread round-robin over its partitions). */
async function publishBacklog(base: URL, token: string, topic: string, signal: AbortSignal): Promise<void> {
  const url = new URL(`/api/foundation/events/${topic}/batch`, base).href;
  const body = JSON.stringify(Array.from({ length: BATCH }, () => EVENT));
  let next = 0;
  const worker = async () => {
    while (next < BACKLOG / BATCH) {
      next++;
      const res = await fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body,
        signal,
      });
      if (res.status !== 202) throw new Error(`publishing to ${topic} answered ${res.status}: ${await res.text()}`);
      await res.arrayBuffer();
    }
  };
  await Promise.all(Array.from({ length: PUBLISH_CONCURRENCY }, worker));
}

export default defineBench({
  name: "events-scaling",
  description: `delivery throughput of a topic with ${SCALE_PARTITIONS.join(", ")} partitions, draining a backlog of ${fmt(BACKLOG)} events`,
  async run(ctx) {
    const runs = Math.min(ctx.settings.repeats, SCALE_MAX_RUNS);
    if (runs < ctx.settings.repeats) ctx.log(`events-scaling: ${runs} runs per partition count (at most ${SCALE_MAX_RUNS})`);
    const token = await benchToken();
    const vars = {
      STREAM_PARTITIONS: JSON.stringify(Object.fromEntries(SCALE_PARTITIONS.map((p) => [`bench.scale.p${p}.*`, p]))),
      // Room for the whole backlog: nothing is trimmed before the group reads it.
      STREAM_RETENTION: JSON.stringify({ "*": { maxLen: BACKLOG * 2 } }),
    };
    const served = await serveWorkers([gatewayWorker(ctx, vars), await sinkWorker(ctx)]);
    const results = new Map<number, number>();
    try {
      for (const partitions of SCALE_PARTITIONS) {
        const eps: number[] = [];
        for (let run = 1; run <= runs; run++) {
          const topic = scaleTopic(partitions, run);
          await publishBacklog(served.url, token, topic, ctx.signal);
          await sinkStats(served, true);
          const started = performance.now();
          await subscribeSink(served.url, token, topic, "drain", { startAt: "beginning", batchSize: DELIVERY_BATCH });
          let delivered = 0;
          while (delivered < BACKLOG) {
            ctx.signal.throwIfAborted();
            if (performance.now() - started > DRAIN_TIMEOUT_MS) {
              throw new Error(`${topic}: only ${fmt(delivered)} of ${fmt(BACKLOG)} events delivered in ${DRAIN_TIMEOUT_MS / 1000} s`);
            }
            await new Promise((r) => setTimeout(r, 50));
            delivered = (await sinkCount(served)).count;
          }
          const seconds = (performance.now() - started) / 1000;
          eps.push(roundTo(delivered / seconds, 1));
          ctx.log(
            `events-scaling ${partitions} partition(s) ${run}/${runs}: ${fmt(delivered)} events delivered in ${fmt(seconds, 2)} s = ${fmt(delivered / seconds)} events/s`,
          );
        }
        results.set(partitions, median(eps));
        recordFigure({
          name: `events.partitions.${partitions}.eps`,
          unit: "events/s",
          median: median(eps),
          baseline: partitions === 1 ? undefined : "events.partitions.1.eps",
          description:
            `delivery of a ${fmt(BACKLOG)}-event backlog on a topic with ${partitions} partition(s) (one StreamConsumer object each, ` +
            `batchSize ${DELIVERY_BATCH}) to a service on the kit, from subscribing to the last event handled`,
          samples: eps,
        });
      }
    } catch (err) {
      const output = served.recentOutput();
      if (output) ctx.log(`events-scaling: last worker output:\n${output}`);
      throw err;
    } finally {
      await served.dispose();
    }
    const one = results.get(1) ?? 0;
    ctx.log(
      `events-scaling: ${SCALE_PARTITIONS.map((p) => `${p} → ${fmt(results.get(p) ?? 0)} events/s (${fmt((results.get(p) ?? 0) / one, 2)}×)`).join(", ")}`,
    );
  },
});
