/**
 * The gateway's rate-limit overhead for the rate-limit bench: the gateway with a quota that never refuses against
 * the gateway without one, one request at a time and under wrk.
 */
import type { BenchContext } from "./context.ts";
import { percentile, SequentialHttpClient } from "./latency.ts";
import { fmt, ROUNDS_PER_SECOND, timeRoundRobin, WARMUP_ROUNDS, type Probe } from "./ratelimit-probes.ts";
import { recordFigure } from "./results.ts";
import { median, roundTo } from "./stats.ts";
import { checkEndpoint, measureHttp, type HttpTarget } from "./wrk.ts";

/** The quota the gateway applies in the overhead measurement: nothing is ever refused. */
export const GATEWAY_QUOTA = [
  {
    name: "bench",
    path: "/api/",
    policy: { algorithm: "sliding-window", limit: 1_000_000, windowMs: 60_000 },
    // Closed, so a limiter that cannot answer fails the run (503) instead of letting requests through unmetered.
    failMode: "closed",
  },
];

/**
 * The gateway with a quota that never refuses against the gateway without one: one request at a time (the
 * latency a request pays), then under wrk (`measureHttp`, alternating the two), recording both differences.
 */
export async function measureGatewayOverhead(ctx: BenchContext, urls: { quota: URL; none: URL }) {
  const noQuota: HttpTarget = {
    label: "gateway without quota",
    figure: "ratelimit.gateway.no-quota",
    url: new URL("/api/example/hello", urls.none).href,
    description: "`GET /api/example/hello` through the gateway, `RATE_LIMIT_POLICIES` = `[]`, under wrk",
  };
  const withQuota: HttpTarget = {
    label: "gateway with quota",
    figure: "ratelimit.gateway.quota",
    url: new URL("/api/example/hello", urls.quota).href,
    description: "`GET /api/example/hello` through the gateway with one sliding-window quota on `/api/` that never refuses, under wrk",
    baseline: "ratelimit.gateway.no-quota",
  };
  const isExample = (b: unknown) => (b as { service?: unknown } | null)?.service === "example";
  for (const t of [noQuota, withQuota]) {
    await checkEndpoint(t.url, isExample, ctx.signal);
    const policy = (await fetch(t.url, { signal: ctx.signal })).headers.get("ratelimit-policy");
    if ((policy?.includes('"bench"') ?? false) !== (t === withQuota)) {
      throw new Error(`${t.label}: expected ${t === withQuota ? "a" : "no"} RateLimit-Policy header, got ${JSON.stringify(policy)}`);
    }
  }

  const rounds = ROUNDS_PER_SECOND * ctx.settings.durationSec;
  const probes: Probe[] = [noQuota, withQuota].map((t) => ({
    id: t.figure,
    url: t.url,
    accept: (status, body) => status === 200 && isExample(body),
    expected: "200 from the example service",
  }));
  const sequential = { p50: [] as number[], p99: [] as number[] };
  const client = new SequentialHttpClient();
  try {
    await timeRoundRobin(client, probes, WARMUP_ROUNDS, ctx.signal);
    for (let run = 1; run <= ctx.settings.repeats; run++) {
      const s = await timeRoundRobin(client, probes, rounds, ctx.signal);
      const [none, quota] = probes.map((p) => s.get(p.id) ?? []) as [number[], number[]];
      const d50 = percentile(quota, 50) - percentile(none, 50);
      const d99 = percentile(quota, 99) - percentile(none, 99);
      sequential.p50.push(roundTo(d50, 4));
      sequential.p99.push(d99);
      ctx.log(
        `ratelimit gateway one at a time ${run}/${ctx.settings.repeats}: p50 ${fmt(percentile(none, 50))} → ${fmt(percentile(quota, 50))} ms, ` +
          `p99 ${fmt(percentile(none, 99))} → ${fmt(percentile(quota, 99))} ms without → with the quota`,
      );
    }
  } finally {
    client.close();
  }
  const oneAtATime = { p50: median(sequential.p50), p99: median(sequential.p99) };
  recordFigure({
    name: "ratelimit.gateway.overhead.sequential.p50",
    unit: "ms",
    median: roundTo(oneAtATime.p50, 3),
    p99: roundTo(oneAtATime.p99, 3),
    description: `gateway rate-limit overhead, ${rounds} requests each, one at a time, Node-timed: p50 (and p99) with the quota minus without`,
    samples: sequential.p50,
  });

  const m = await measureHttp(ctx, [noQuota, withQuota]);
  const none = m.get(noQuota.figure);
  const quota = m.get(withQuota.figure);
  if (!none || !quota) throw new Error("measureHttp returned no gateway figures");
  // The difference of two tails under saturation is noise (it can come out negative), so only p50 is
  // reported as an overhead; both p99s are in the no-quota and quota figures.
  const underWrk = { p50: quota.p50 - none.p50 };
  recordFigure({
    name: "ratelimit.gateway.overhead.p50",
    unit: "ms",
    median: roundTo(underWrk.p50, 3),
    description:
      `gateway rate-limit overhead under wrk (${ctx.settings.connections} connections, all one client key, so one Durable Object): ` +
      "p50 with the quota minus without; includes queueing",
  });
  return { oneAtATime, underWrk };
}
