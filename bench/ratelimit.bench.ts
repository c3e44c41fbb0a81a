/**
 * Rate-limit decision latency (issue 4): our `RateLimiter` Durable Object through `checkRateLimit`, allowed and
 * refused from the deny cache, against @upstash/ratelimit (sliding window, token bucket) on the same local Redis
 * through the local Upstash endpoint, all in one workerd; and the gateway's rate-limit overhead, with and without
 * a quota on `/api/`, one request at a time and under wrk.
 *
 * workerd's clock only moves in whole milliseconds, so a sub-millisecond decision cannot be timed inside the
 * worker. Node times one-decision requests instead, round-robin over the variants and a no-decision floor, and a
 * decision's latency is its request's latency minus the floor's median in the same run. A loop of decisions
 * inside workerd gives the mean without any HTTP, as a cross-check, and the Upstash endpoint's counters give the
 * Redis commands each @upstash/ratelimit decision costs.
 */
import { resolve } from "node:path";
import { BENCH_JWT_SECRET } from "./lib/auth.ts";
import { defineBench } from "./lib/context.ts";
import { bundledWorker, readWranglerBasics, stackBindings, withWorkers, type BenchWorker } from "./lib/miniflare.ts";
import { measureDecisions } from "./lib/ratelimit-decisions.ts";
import { GATEWAY_QUOTA, measureGatewayOverhead } from "./lib/ratelimit-overhead.ts";
import { fmt } from "./lib/ratelimit-probes.ts";
import { LIMITER_CLASS, rateLimitBenchWorker } from "./lib/ratelimit-worker.ts";
import { ensureWrk } from "./lib/wrk.ts";

export default defineBench({
  name: "ratelimit",
  description: "decision latency of our limiter vs @upstash/ratelimit in workerd; the gateway's rate-limit overhead",
  async run(ctx) {
    await ensureWrk(ctx.log, ctx.signal);
    const at = (...p: string[]) => resolve(ctx.root, ...p);
    const exampleConfig = at("workers/example/wrangler.toml");
    const gatewayConfig = at("wrangler.toml");
    const bindings = { ...stackBindings(ctx.stack), JWT_SECRET: BENCH_JWT_SECRET };
    // `GET /api/example/hello` public, as in wrangler.toml, so the quota is the only difference between the two.
    const routeAuth = JSON.stringify([{ path: "/api/example/hello", methods: ["GET", "HEAD"], auth: "public" }]);
    const sqlite = (className: string) => ({ className, useSQLite: true });
    const gateway = (policies: string, serviceBindings?: Record<string, string>): BenchWorker => ({
      ...bundledWorker(
        at("dist/gateway/index.js"),
        gatewayConfig,
        { ...bindings, RATE_LIMIT_POLICIES: policies, ROUTE_AUTH: routeAuth },
        serviceBindings,
      ),
      durableObjects: {
        RATE_LIMITER: LIMITER_CLASS,
        SERVICE_REGISTRY: sqlite("ServiceRegistry"),
        SERVICE_DIRECTORY: sqlite("ServiceDirectory"),
        METRICS_AGGREGATOR: sqlite("MetricsAggregator"),
      },
    });
    const toExample = { EXAMPLE: readWranglerBasics(exampleConfig).name };
    const example = bundledWorker(at("dist/example/index.js"), exampleConfig, stackBindings(ctx.stack));
    const bench = await rateLimitBenchWorker(ctx);

    // The gateway here only hosts the Durable Object class; its routes are not used.
    const decisions = await withWorkers({ decisions: [bench, gateway("[]")] }, ctx.log, (urls) => measureDecisions(ctx, urls.decisions));
    const overhead = await withWorkers(
      {
        "gateway with quota": [gateway(JSON.stringify(GATEWAY_QUOTA), toExample), example],
        "gateway without quota": [gateway("[]", toExample), example],
      },
      ctx.log,
      (urls) => measureGatewayOverhead(ctx, { quota: urls["gateway with quota"], none: urls["gateway without quota"] }),
    );

    for (const [variant, algorithm] of [
      ["sliding-window", "sliding-window"],
      ["sliding-window-exact", "sliding-window"],
      ["token-bucket", "token-bucket"],
    ]) {
      const ours = decisions.get(`ratelimit.ours.${variant}`);
      const theirs = decisions.get(`ratelimit.upstash.${algorithm}`);
      if (!ours || !theirs) continue;
      const p50 = ours.p50 / theirs.p50;
      const mean = ours.mean / theirs.mean;
      ctx.log(
        `ratelimit: ${variant} ours / @upstash/ratelimit: p50 ${fmt(ours.p50)} / ${fmt(theirs.p50)} ms = ${p50.toFixed(2)}×, ` +
          `in-workerd mean ${fmt(ours.mean)} / ${fmt(theirs.mean)} ms = ${mean.toFixed(2)}× (target ≤ 0.50×: ${p50 <= 0.5 ? "met" : "MISSED"})`,
      );
    }
    const { oneAtATime, underWrk } = overhead;
    ctx.log(
      `ratelimit: gateway rate-limit overhead p50 ${fmt(oneAtATime.p50)} ms one request at a time, ${fmt(underWrk.p50)} ms under wrk ` +
        `(target < 1 ms: ${oneAtATime.p50 < 1 ? "met" : "MISSED"} one at a time, ${underWrk.p50 < 1 ? "met" : "MISSED"} under wrk)`,
    );
  },
});
