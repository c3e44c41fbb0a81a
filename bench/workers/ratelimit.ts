/**
 * Rate-limit decisions inside workerd, for bench/ratelimit.bench.ts: our `RateLimiter` Durable Object through
 * `checkRateLimit` (allowed, and refused from the deny cache) and @upstash/ratelimit against the local Upstash
 * endpoint (sliding window and token bucket), all behind the same route so every variant pays the same HTTP cost.
 *
 * `GET /decide?variant=…&key=…` takes one decision (`variant=none` takes none: the HTTP floor);
 * `GET /loop?variant=…&key=…&n=…` takes `n` in a row and answers how long they took together. workerd's clock
 * only moves in whole milliseconds, and only across I/O, so a single decision cannot be timed in here: the bench
 * times `/decide` from Node and uses `/loop` for the mean over many. `GET /burst?variant=…&key=…&concurrency=…&ms=…`
 * runs `concurrency` loops of decisions for `ms` milliseconds, for bench/ratelimit-scaling.bench.ts: decisions per
 * second without HTTP in the way. The `ours.shards-<n>` variants split one hot key over `n` shards; with
 * `&shard=<i>` the client's shard pick is pinned to shard `i` (its `random` option), so a bench can drive each
 * shard's object from its own workerd process.
 *
 * The package's `checkRateLimit` is handed in by ratelimit-entry.js: bench/ is type-checked with Node's types,
 * the package with workerd's, so this module types the slice it uses structurally. @upstash/ratelimit's scripts
 * carry a flag only Upstash's server accepts; see {@link withoutUpstashOnlyFlags}.
 */
import { DenyCache, type Decision, type Policy } from "@foundation/rate-limiter";
import { Ratelimit } from "@upstash/ratelimit";
import { Redis } from "@upstash/redis/cloudflare";
import { VARIANTS, type BurstAnswer, type DecideAnswer, type LoopAnswer, type Variant } from "./ratelimit-api.ts";

/** The `RATE_LIMITER` namespace binding: opaque here, only `checkRateLimit` looks inside. */
export type LimiterNamespace = object;

/** `checkRateLimit`'s result, as far as this worker reads it. */
export type OurResult = (Decision & { source: "limiter" | "deny-cache" }) | { source: "degraded"; reason: string; error: unknown };

/** The part of @foundation/rate-limiter this worker calls (see the module comment for why it is injected). */
export interface OurLimiter {
  checkRateLimit(
    namespace: LimiterNamespace,
    key: string,
    policy: Policy,
    options: { denyCache: DenyCache; random?: () => number },
  ): Promise<OurResult>;
}

/** The worker's bindings. */
export interface RatelimitBenchEnv {
  RATE_LIMITER: LimiterNamespace;
  UPSTASH_REDIS_REST_URL: string;
  UPSTASH_REDIS_REST_TOKEN: string;
}

/**
 * Quotas a busy client could have, never reached by one run's key (about 4,000 decisions), and at least 10,000
 * per window, so the limiter object stores write-ahead headroom. @upstash/ratelimit gets the same ones.
 */
const OUR_POLICIES = {
  "sliding-window": { algorithm: "sliding-window", limit: 100_000, windowMs: 60_000 },
  "token-bucket": { algorithm: "token-bucket", limit: 100_000, refillPerSecond: 10_000 },
} satisfies Record<string, Policy>;
/**
 * A quota under the 10,000 per window from which a key stores write-ahead headroom: every admission is written
 * before its answer. 9,999 a minute is never reached by one run's key (about 4,000 decisions).
 */
const EXACT_POLICY: Policy = { algorithm: "sliding-window", limit: 9_999, windowMs: 60_000 };
/** A sliding window of 1e9 a minute split over `shards` objects: never refused, whatever the shard, in scaling runs of ~1M decisions. */
const shardedPolicy = (shards: number): Policy => ({ algorithm: "sliding-window", limit: 1_000_000_000, windowMs: 60_000, shards });
/** One request an hour: after the first, the key is refused and then answered from the deny cache. */
const REFUSING_POLICY: Policy = { algorithm: "sliding-window", limit: 1, windowMs: 3_600_000 };

/** One decision on `key`; `shard` pins a sharded policy's first pick to that shard. */
type Decide = (env: RatelimitBenchEnv, key: string, shard?: number) => Promise<DecideAnswer>;

function ourDecision(ours: OurLimiter, policy: Policy, denyCache: DenyCache): Decide {
  const shards = policy.shards ?? 1;
  return async (env, key, shard) => {
    // probeOrder asks shard floor(random() × shards) first; a limit never reached means no second pick.
    const random = shard === undefined ? undefined : () => (shard + 0.5) / shards;
    const r = await ours.checkRateLimit(env.RATE_LIMITER, key, policy, { denyCache, ...(random ? { random } : {}) });
    if (r.source === "degraded") throw new Error(`our limiter degraded (${r.reason}): ${String(r.error)}`);
    return { allowed: r.allowed, source: r.source };
  };
}

async function sha1Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The first line of @upstash/ratelimit's Lua scripts since 2.1. */
const UPSTASH_ONLY_SHEBANG = /^#!lua flags=allow-key-locking\n/;

/**
 * @upstash/ratelimit ≥ 2.1 starts its Lua scripts with `#!lua flags=allow-key-locking`, a flag only Upstash's
 * server knows (it narrows the script's lock to its keys); Redis 7 refuses such a script. This view of the client
 * drops that line before `EVAL` and afterwards sends `EVALSHA` under the hash of the script Redis actually
 * cached, so a decision still costs one `EVALSHA`, as it does against Upstash.
 */
function withoutUpstashOnlyFlags(redis: Redis): Redis {
  const cachedAs = new Map<string, string>();
  return new Proxy(redis, {
    get(target, prop) {
      if (prop === "eval") {
        return async (script: string, keys: string[], args: unknown[]) => {
          const plain = script.replace(UPSTASH_ONLY_SHEBANG, "");
          if (plain !== script) cachedAs.set(await sha1Hex(script), await sha1Hex(plain));
          return target.eval(plain, keys, args);
        };
      }
      if (prop === "evalsha") {
        return (sha: string, keys: string[], args: unknown[]) => target.evalsha(cachedAs.get(sha) ?? sha, keys, args);
      }
      return Reflect.get(target, prop) as unknown;
    },
  });
}

/** @upstash/ratelimit as its README sets it up, minus the ephemeral cache (it would skip Redis for refusals). */
function upstashLimiters(env: RatelimitBenchEnv): Record<"sliding-window" | "token-bucket", Ratelimit> {
  const redis = withoutUpstashOnlyFlags(
    new Redis({ url: env.UPSTASH_REDIS_REST_URL, token: env.UPSTASH_REDIS_REST_TOKEN, enableTelemetry: false }),
  );
  const common = { redis, prefix: "bench-ratelimit", ephemeralCache: false, analytics: false, enableTelemetry: false } as const;
  return {
    "sliding-window": new Ratelimit({ ...common, limiter: Ratelimit.slidingWindow(100_000, "60 s") }),
    "token-bucket": new Ratelimit({ ...common, limiter: Ratelimit.tokenBucket(10_000, "1 s", 100_000) }),
  };
}

function upstashDecision(limiter: (env: RatelimitBenchEnv) => Ratelimit): Decide {
  return async (env, key) => {
    const r = await limiter(env).limit(key);
    await r.pending;
    return { allowed: r.success, source: r.reason ?? "redis" };
  };
}

function isVariant(value: string | null): value is Variant {
  return (VARIANTS as readonly (string | null)[]).includes(value);
}

/**
 * The bench worker's fetch handler around the given limiter functions.
 * @example export default createRatelimitBench({ checkRateLimit });
 */
export function createRatelimitBench(ours: OurLimiter): { fetch(request: Request, env: RatelimitBenchEnv): Promise<Response> } {
  const denyCache = new DenyCache();
  let upstash: ReturnType<typeof upstashLimiters> | undefined;
  const upstashOf = (env: RatelimitBenchEnv) => (upstash ??= upstashLimiters(env));
  const decisions: Record<Variant, Decide> = {
    none: () => Promise.resolve({ allowed: true, source: "none" }),
    "ours.sliding-window": ourDecision(ours, OUR_POLICIES["sliding-window"], denyCache),
    "ours.sliding-window-exact": ourDecision(ours, EXACT_POLICY, denyCache),
    "ours.token-bucket": ourDecision(ours, OUR_POLICIES["token-bucket"], denyCache),
    "ours.deny-cache": ourDecision(ours, REFUSING_POLICY, denyCache),
    "upstash.sliding-window": upstashDecision((env) => upstashOf(env)["sliding-window"]),
    "upstash.token-bucket": upstashDecision((env) => upstashOf(env)["token-bucket"]),
    "ours.shards-1": ourDecision(ours, shardedPolicy(1), denyCache),
    "ours.shards-4": ourDecision(ours, shardedPolicy(4), denyCache),
    "ours.shards-16": ourDecision(ours, shardedPolicy(16), denyCache),
  };

  return {
    async fetch(request, env) {
      const url = new URL(request.url);
      const variant = url.searchParams.get("variant");
      const key = url.searchParams.get("key");
      if (!isVariant(variant) || !key) {
        return Response.json({ error: `need ?variant=${VARIANTS.join("|")}&key=…` }, { status: 400 });
      }
      const shardParam = url.searchParams.get("shard");
      const shard = shardParam === null ? undefined : Number(shardParam);
      if (shard !== undefined && !(Number.isInteger(shard) && shard >= 0)) {
        return Response.json({ error: "shard must be a shard index (0, 1, …)" }, { status: 400 });
      }
      const chosen = decisions[variant];
      const decide = (e: RatelimitBenchEnv, k: string) => chosen(e, k, shard);
      try {
        if (url.pathname === "/decide") return Response.json((await decide(env, key)) satisfies DecideAnswer);
        if (url.pathname === "/loop") {
          const n = Number(url.searchParams.get("n"));
          if (!Number.isInteger(n) || n < 1) return Response.json({ error: "need ?n=<positive integer>" }, { status: 400 });
          const sources: Record<string, number> = {};
          let allowed = 0;
          const started = Date.now();
          for (let i = 0; i < n; i++) {
            const d = await decide(env, key);
            if (d.allowed) allowed++;
            sources[d.source] = (sources[d.source] ?? 0) + 1;
          }
          return Response.json({ n, elapsedMs: Date.now() - started, allowed, sources } satisfies LoopAnswer);
        }
        if (url.pathname === "/burst") {
          const concurrency = Number(url.searchParams.get("concurrency"));
          const ms = Number(url.searchParams.get("ms"));
          if (!Number.isInteger(concurrency) || concurrency < 1 || !Number.isInteger(ms) || ms < 1) {
            return Response.json({ error: "need ?concurrency=<positive integer>&ms=<positive integer>" }, { status: 400 });
          }
          let decisions = 0;
          let allowed = 0;
          const started = Date.now();
          const loop = async () => {
            while (Date.now() - started < ms) {
              if ((await decide(env, key)).allowed) allowed++;
              decisions++;
            }
          };
          await Promise.all(Array.from({ length: concurrency }, loop));
          return Response.json({ decisions, allowed, elapsedMs: Date.now() - started } satisfies BurstAnswer);
        }
        return Response.json({ error: "routes: /decide, /loop, /burst" }, { status: 404 });
      } catch (err) {
        return Response.json({ error: (err as Error).message }, { status: 500 });
      }
    },
  };
}
