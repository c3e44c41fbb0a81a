import { resolve } from "node:path";
import type { BenchContext } from "./context.ts";
import { benchOnlyWorker, readWranglerBasics, upstashBindings, type BenchWorker } from "./miniflare.ts";

/** The `RateLimiter` class as the gateway's bundle declares it (SQLite-backed). */
export const LIMITER_CLASS = { className: "RateLimiter", useSQLite: true } as const;

/**
 * bench/workers/ratelimit.ts (through ratelimit-entry.js), bound to the `RateLimiter` class of the gateway's
 * bundle, the class as deployed rather than a copy built for the bench, and to the stack's Upstash endpoint.
 */
export async function rateLimitBenchWorker(ctx: BenchContext): Promise<BenchWorker> {
  const gatewayConfig = resolve(ctx.root, "wrangler.toml");
  return benchOnlyWorker("bench-ratelimit", resolve(ctx.root, "bench/workers/ratelimit-entry.js"), gatewayConfig, {
    bindings: upstashBindings(ctx.stack),
    durableObjects: { RATE_LIMITER: { ...LIMITER_CLASS, scriptName: readWranglerBasics(gatewayConfig).name } },
  });
}
