/**
 * The workers the event benches serve: the gateway as wrangler.toml declares it, pointed at the bench's stack,
 * and bench-sink, the subscribed service that records every delivery (bench/workers/event-sink.ts).
 */
import { resolve } from "node:path";
import { serviceSecret } from "@foundation/event-bus/subscriber";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { BENCH_JWT_SECRET, BENCH_SIGNING_SECRET as SIGNING_SECRET } from "./auth.ts";
import type { BenchContext } from "./context.ts";
import { benchOnlyWorker, readWranglerBasics, stackBindings, type BenchWorker, type ServedWorkers } from "./miniflare.ts";
import type { SinkStats } from "../workers/event-sink.ts";

/**
 * The gateway as wrangler.toml declares it (vars and Durable Objects), pointed at the stack with bench secrets,
 * no rate-limit policies, and `vars` (stream retention, partitions…) on top.
 */
export function gatewayWorker(ctx: BenchContext, vars: Record<string, string>): BenchWorker {
  const config = resolve(ctx.root, "wrangler.toml");
  const { workerOptions } = unstable_getMiniflareWorkerOptions(config);
  const basics = readWranglerBasics(config);
  return {
    name: basics.name,
    modules: true,
    scriptPath: resolve(ctx.root, "dist/gateway/index.js"),
    compatibilityDate: basics.compatibilityDate,
    compatibilityFlags: basics.compatibilityFlags,
    bindings: {
      ...(workerOptions.bindings as Record<string, string>),
      ...stackBindings(ctx.stack),
      ENVIRONMENT: "local",
      JWT_SECRET: BENCH_JWT_SECRET,
      EVENT_SIGNING_SECRET: SIGNING_SECRET,
      RATE_LIMIT_POLICIES: "[]",
      ...vars,
    },
    serviceBindings: { BENCH_SINK: "bench-sink" },
    durableObjects: workerOptions.durableObjects as BenchWorker["durableObjects"],
  };
}

/** bench-sink: a service on the kit subscribed to the sink's streams, delivered to through `BENCH_SINK`. */
export async function sinkWorker(ctx: BenchContext): Promise<BenchWorker> {
  return benchOnlyWorker("bench-sink", resolve(ctx.root, "bench/workers/event-sink-entry.js"), resolve(ctx.root, "wrangler.toml"), {
    // A service verifies deliveries with its own secret, derived from the bus's.
    bindings: { EVENT_SIGNING_SECRET: await serviceSecret(SIGNING_SECRET, "bench-sink") },
  });
}

/** The sink's count and latency histogram so far, or (`reset`) clears them. */
export async function sinkStats(served: ServedWorkers, reset = false): Promise<SinkStats> {
  const res = await served.fetchWorker(
    "bench-sink",
    reset ? "http://sink/reset" : "http://sink/stats",
    reset ? { method: "POST" } : undefined,
  );
  return reset ? { count: 0, firstAt: null, lastAt: null, buckets: [] } : ((await res.json()) as SinkStats);
}

/** How many events the sink has received (cheap: no histogram), with the first and last receive times. */
export async function sinkCount(served: ServedWorkers): Promise<Omit<SinkStats, "buckets">> {
  return (await (await served.fetchWorker("bench-sink", "http://sink/count")).json()) as Omit<SinkStats, "buckets">;
}

/** Subscribes bench-sink to `stream` as `group` through the gateway's API; throws unless it answers 201. */
export async function subscribeSink(base: URL, token: string, stream: string, group: string, options: Record<string, unknown> = {}) {
  const res = await fetch(new URL("/api/foundation/subscriptions", base), {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({
      stream,
      group,
      target: { service: "bench-sink" },
      batchSize: 1000,
      maxDeliveries: 5,
      retryBackoffMs: 5000,
      ...options,
    }),
  });
  if (res.status !== 201) throw new Error(`subscribing bench-sink to ${stream} answered ${res.status}: ${await res.text()}`);
}

/** What `/publish` answers. */
export interface PublishAnswer {
  events: number;
  calls: number;
  elapsedMs: number;
  /** Milliseconds per `publishEvents` call. */
  latencies: number[];
}
