/**
 * Redis ceiling: raw XADD throughput of the stack's redis-server with redis-benchmark, pipelined and not,
 * as the upper bound for event-bus figures (which add HTTP, the Upstash REST protocol and the worker).
 */
import { Redis } from "ioredis";
import { defineBench } from "./lib/context.ts";
import { runRedisBenchmark } from "./lib/redis-benchmark.ts";
import type { RedisBenchmarkRow } from "./lib/redis-benchmark-output.ts";
import { recordFigure } from "./lib/results.ts";
import { median, roundTo } from "./lib/stats.ts";

const STREAM = "bench:stream";
/** Two fields, the second a 16-byte value: the shape of a small event. */
const XADD = ["XADD", STREAM, "*", "f1", "v1", "f2", "0123456789abcdef"] as const;
const PIPELINE = 100;

export default defineBench({
  name: "redis",
  description: "redis-benchmark: XADD pipelined and unpipelined against the stack's redis-server",
  async run(ctx) {
    const { connections: clients, repeats, durationSec } = ctx.settings;
    const redis = new Redis(ctx.stack.redis.url, { maxRetriesPerRequest: 1, lazyConnect: true });
    try {
      await redis.connect();
      const variants = [
        { label: "XADD pipelined", figure: "redis.xadd.pipelined", pipeline: PIPELINE, requests: 100_000 * durationSec },
        { label: "XADD unpipelined", figure: "redis.xadd.unpipelined", pipeline: 1, requests: 10_000 * durationSec },
      ];
      for (const v of variants) {
        const rows: RedisBenchmarkRow[] = [];
        await redis.del(STREAM);
        for (let i = 1; i <= repeats; i++) {
          ctx.signal.throwIfAborted();
          const row = await runRedisBenchmark({
            port: ctx.stack.redis.port,
            requests: v.requests,
            clients,
            pipeline: v.pipeline,
            command: XADD,
            signal: ctx.signal,
          });
          const added = await redis.xlen(STREAM);
          if (added !== v.requests) throw new Error(`${v.label}: expected ${v.requests} stream entries after the run, found ${added}`);
          await redis.del(STREAM);
          rows.push(row);
          ctx.log(
            `redis ${v.label} ${i}/${repeats} … ${Math.round(row.rps).toLocaleString("en-US")} ops/s` +
              (row.p50Ms !== undefined ? `, p50 ${row.p50Ms} ms, p99 ${row.p99Ms ?? "?"} ms` : ""),
          );
        }
        const what = `redis-benchmark XADD (2 fields, 16-byte value), ${clients} clients, ${v.pipeline > 1 ? `pipeline ${v.pipeline}` : "unpipelined"}`;
        const rps = rows.map((r) => r.rps);
        recordFigure({ name: `${v.figure}.ops`, unit: "ops/s", median: roundTo(median(rps), 1), description: what, samples: rps });
        if (v.pipeline === 1) {
          const p50 = rows.map((r) => r.p50Ms).filter((x) => x !== undefined);
          const p99 = rows.map((r) => r.p99Ms).filter((x) => x !== undefined);
          if (p50.length === rows.length && p99.length === rows.length) {
            recordFigure({
              name: `${v.figure}.p50`,
              unit: "ms",
              median: roundTo(median(p50), 3),
              p99: roundTo(median(p99), 3),
              description: `${what}: median latency`,
              samples: p50,
            });
          }
        }
      }
    } finally {
      redis.disconnect();
    }
  },
});
