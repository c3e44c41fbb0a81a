import { resolve } from "node:path";
import type { BenchContext } from "./context.ts";
import { bundleWorker, readWranglerBasics, type BenchWorker } from "./miniflare.ts";

/** The `RateLimiter` class as the gateway's bundle declares it (SQLite-backed). */
export const LIMITER_CLASS = { className: "RateLimiter", useSQLite: true } as const;

/**
 * bench/workers/ratelimit.ts (through ratelimit-entry.js), bound to the `RateLimiter` class of the gateway's
 * bundle, the class as deployed rather than a copy built for the bench, and to the stack's Upstash endpoint.
 */
export async function rateLimitBenchWorker(ctx: BenchContext): Promise<BenchWorker> {
  const gatewayBasics = readWranglerBasics(resolve(ctx.root, "wrangler.toml"));
  return {
    name: "bench-ratelimit",
    modules: true,
    script: await bundleWorker(resolve(ctx.root, "bench/workers/ratelimit-entry.js")),
    compatibilityDate: gatewayBasics.compatibilityDate,
    compatibilityFlags: gatewayBasics.compatibilityFlags,
    bindings: { UPSTASH_REDIS_REST_URL: ctx.stack.upstash.url, UPSTASH_REDIS_REST_TOKEN: ctx.stack.upstash.token },
    durableObjects: { RATE_LIMITER: { ...LIMITER_CLASS, scriptName: gatewayBasics.name } },
  };
}
