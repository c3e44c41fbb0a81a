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
import { defineBench, type BenchContext } from "./lib/context.ts";
import { percentile, SequentialHttpClient } from "./lib/latency.ts";
import { bundledWorker, readWranglerBasics, stackBindings, withWorkers, type BenchWorker } from "./lib/miniflare.ts";
import { LIMITER_CLASS, rateLimitBenchWorker } from "./lib/ratelimit-worker.ts";
import { recordFigure } from "./lib/results.ts";
import { median, roundTo } from "./lib/stats.ts";
import { checkEndpoint, ensureWrk, measureHttp, type HttpTarget } from "./lib/wrk.ts";
import type { DecideAnswer, LoopAnswer, Variant } from "./workers/ratelimit.ts";

/** A decision path of the bench worker, the figure it becomes and what a correct answer looks like. */
interface DecisionVariant {
  variant: Exclude<Variant, "none">;
  label: string;
  figure: string;
  description: string;
  baseline?: string;
  expect: DecideAnswer;
  /** Answers of the decisions taken before timing (to get a key refused). */
  prime?: DecideAnswer[];
}

const DECISIONS: readonly DecisionVariant[] = [
  {
    variant: "ours.sliding-window",
    label: "ours sliding window",
    figure: "ratelimit.ours.sliding-window",
    description:
      "our RateLimiter DO via `checkRateLimit`, sliding window of 100,000 a minute (stores write-ahead headroom, so most admissions need no commit), allowed",
    baseline: "ratelimit.upstash.sliding-window",
    expect: { allowed: true, source: "limiter" },
  },
  {
    variant: "ours.sliding-window-exact",
    label: "ours sliding window exact",
    figure: "ratelimit.ours.sliding-window-exact",
    description:
      "our RateLimiter DO via `checkRateLimit`, sliding window of 9,999 a minute (under 10,000: every admission is committed before its answer), allowed",
    baseline: "ratelimit.upstash.sliding-window",
    expect: { allowed: true, source: "limiter" },
  },
  {
    variant: "upstash.sliding-window",
    label: "upstash sliding window",
    figure: "ratelimit.upstash.sliding-window",
    description:
      "@upstash/ratelimit 2.2 `slidingWindow` of 100,000 a minute (no ephemeral cache; Upstash-only script flag dropped) via the local Upstash endpoint, allowed",
    expect: { allowed: true, source: "redis" },
  },
  {
    variant: "ours.token-bucket",
    label: "ours token bucket",
    figure: "ratelimit.ours.token-bucket",
    description:
      "our RateLimiter DO via `checkRateLimit`, token bucket of 100,000 refilled 10,000/s (nearly always full; headroom kept as a debt), allowed",
    baseline: "ratelimit.upstash.token-bucket",
    expect: { allowed: true, source: "limiter" },
  },
  {
    variant: "upstash.token-bucket",
    label: "upstash token bucket",
    figure: "ratelimit.upstash.token-bucket",
    description:
      "@upstash/ratelimit 2.2 `tokenBucket` of 100,000 refilled 10,000/s (no ephemeral cache; Upstash-only script flag dropped) via the local Upstash endpoint, allowed",
    expect: { allowed: true, source: "redis" },
  },
  {
    variant: "ours.deny-cache",
    label: "ours refused (deny cache)",
    figure: "ratelimit.ours.deny-cache",
    description: "`checkRateLimit` for a refused key, answered from the isolate's deny cache",
    baseline: "ratelimit.ours.sliding-window",
    expect: { allowed: false, source: "deny-cache" },
    prime: [
      { allowed: true, source: "limiter" },
      { allowed: false, source: "limiter" },
    ],
  },
];

const FLOOR: DecideAnswer = { allowed: true, source: "none" };
/** Untimed rounds per run, after fresh keys: the first decision of a key creates its Durable Object. */
const WARMUP_ROUNDS = 50;
/** Timed rounds per run, per second of `BENCH_DURATION` (2,000 at the default 10 s). */
const ROUNDS_PER_SECOND = 200;
/** The quota the gateway applies in the overhead measurement: nothing is ever refused. */
const GATEWAY_QUOTA = [
  {
    name: "bench",
    path: "/api/",
    policy: { algorithm: "sliding-window", limit: 1_000_000, windowMs: 60_000 },
    // Closed, so a limiter that cannot answer fails the run (503) instead of letting requests through unmetered.
    failMode: "closed",
  },
];

const fmt = (ms: number) => ms.toFixed(3);
const show = (body: unknown) => JSON.stringify(body)?.slice(0, 300) ?? String(body);

/** A URL to time, and the check its every answer must pass. */
interface Probe {
  id: string;
  url: string;
  accept: (status: number, body: unknown) => boolean;
  expected: string;
}

/**
 * GETs every probe once per round, `rounds` times, one request at a time, starting one probe later each round so
 * drift and pauses spread evenly; returns each probe's latencies (ms). Throws on the first unexpected answer.
 */
async function timeRoundRobin(
  client: SequentialHttpClient,
  probes: readonly Probe[],
  rounds: number,
  signal: AbortSignal,
): Promise<Map<string, number[]>> {
  const samples = new Map<string, number[]>(probes.map((p) => [p.id, []]));
  for (let i = 0; i < rounds; i++) {
    signal.throwIfAborted();
    for (let k = 0; k < probes.length; k++) {
      const p = probes[(i + k) % probes.length] as Probe;
      const r = await client.get(p.url, signal);
      if (!p.accept(r.status, r.body))
        throw new Error(`${p.id}: GET ${p.url} answered ${r.status} ${show(r.body)}; expected ${p.expected}`);
      samples.get(p.id)?.push(r.ms);
    }
  }
  return samples;
}

function decideUrl(base: URL, path: "/decide" | "/loop", params: Record<string, string>): string {
  const url = new URL(path, base);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return url.href;
}

function decideProbe(base: URL, variant: Variant, key: string, expect: DecideAnswer): Probe {
  const b = (body: unknown) => body as Partial<DecideAnswer> | null;
  return {
    id: variant,
    url: decideUrl(base, "/decide", { variant, key }),
    accept: (status, body) => status === 200 && b(body)?.allowed === expect.allowed && b(body)?.source === expect.source,
    expected: show(expect),
  };
}

/** One variant's figures of one run (ms). */
interface RunFigures {
  p50: number;
  p99: number;
  mean: number;
  commandsPerDecision: number;
  requestsPerDecision: number;
}

/** `/loop` for `n` decisions inside workerd, with the Upstash commands they caused. */
async function loopInWorkerd(ctx: BenchContext, client: SequentialHttpClient, base: URL, v: DecisionVariant, key: string, n: number) {
  ctx.stack.resetStats();
  const res = await client.get(decideUrl(base, "/loop", { variant: v.variant, key, n: String(n) }), ctx.signal);
  const stats = ctx.stack.stats();
  const answer = res.body as LoopAnswer;
  if (res.status !== 200 || answer.allowed !== (v.expect.allowed ? n : 0) || answer.sources[v.expect.source] !== n) {
    throw new Error(`${v.label}: /loop answered ${res.status} ${show(res.body)}; expected ${n} × ${show(v.expect)}`);
  }
  const commands = Object.values(stats.upstashCommands).reduce((a, b) => a + b, 0);
  return { meanMs: answer.elapsedMs / n, byCommand: stats.upstashCommands, commands: commands / n, requests: stats.upstashRequests / n };
}

/** One run: fresh keys, warm-up, `rounds` timed rounds over the floor and every variant, then the in-workerd loops. */
async function measureDecisionRun(ctx: BenchContext, client: SequentialHttpClient, base: URL, run: number, rounds: number) {
  const runId = `${Date.now().toString(36)}-${run}`;
  const keyOf = (variant: Variant) => `bench:${runId}:${variant}`;
  for (const v of DECISIONS) {
    const priming = (v.prime ?? []).map((expect) => decideProbe(base, v.variant, keyOf(v.variant), expect));
    await timeRoundRobin(client, priming, 1, ctx.signal);
  }
  const probes = [
    decideProbe(base, "none", keyOf("none"), FLOOR),
    ...DECISIONS.map((v) => decideProbe(base, v.variant, keyOf(v.variant), v.expect)),
  ];
  await timeRoundRobin(client, probes, WARMUP_ROUNDS, ctx.signal);
  const samples = await timeRoundRobin(client, probes, rounds, ctx.signal);

  const floor = samples.get("none") ?? [];
  const floorP50 = percentile(floor, 50);
  const floorP99 = percentile(floor, 99);
  ctx.log(`ratelimit run ${run}: floor (request without a decision) p50 ${fmt(floorP50)} ms, p99 ${fmt(floorP99)} ms`);
  const figures = new Map<Variant, RunFigures>();
  for (const v of DECISIONS) {
    const s = samples.get(v.variant) ?? [];
    const loop = await loopInWorkerd(ctx, client, base, v, keyOf(v.variant), rounds);
    const f: RunFigures = {
      p50: percentile(s, 50) - floorP50,
      p99: percentile(s, 99) - floorP50,
      mean: loop.meanMs,
      commandsPerDecision: loop.commands,
      requestsPerDecision: loop.requests,
    };
    figures.set(v.variant, f);
    const perCommand = Object.entries(loop.byCommand).map(([name, count]) => `${name} ${roundTo(count / rounds, 3)}`);
    ctx.log(
      `ratelimit run ${run}: ${v.label.padEnd(26)} p50 ${fmt(f.p50)} ms, p99 ${fmt(f.p99)} ms (minus floor p50); ` +
        `in-workerd mean ${fmt(f.mean)} ms; Upstash per decision: ${perCommand.join(", ") || "no commands"}, ${roundTo(loop.requests, 3)} requests`,
    );
  }
  return { floor: { p50: floorP50, p99: floorP99 }, figures };
}

/** Decision latency of every variant over `settings.repeats` runs, recorded as figures; returns the p50 medians. */
async function measureDecisions(ctx: BenchContext, base: URL): Promise<Map<string, { p50: number; mean: number }>> {
  const rounds = ROUNDS_PER_SECOND * ctx.settings.durationSec;
  ctx.log(
    `ratelimit: ${ctx.settings.repeats} runs of ${rounds} one-decision requests per variant, then ${rounds} decisions in a workerd loop`,
  );
  const runs: Awaited<ReturnType<typeof measureDecisionRun>>[] = [];
  const client = new SequentialHttpClient();
  try {
    for (let run = 1; run <= ctx.settings.repeats; run++) runs.push(await measureDecisionRun(ctx, client, base, run, rounds));
  } finally {
    client.close();
  }

  const floorP50 = runs.map((r) => roundTo(r.floor.p50, 4));
  recordFigure({
    name: "ratelimit.floor.p50",
    unit: "ms",
    median: roundTo(median(floorP50), 3),
    p99: roundTo(median(runs.map((r) => r.floor.p99)), 3),
    description: "Node → bench worker → Node, one request at a time taking no decision: the floor subtracted from the decision figures",
    samples: floorP50,
  });
  const results = new Map<string, { p50: number; mean: number }>();
  for (const v of DECISIONS) {
    const of = (pick: (f: RunFigures) => number, decimals: number) =>
      runs.map((r) => {
        const f = r.figures.get(v.variant);
        if (!f) throw new Error(`a run has no figures for ${v.label}`);
        return roundTo(pick(f), decimals);
      });
    const p50 = of((f) => f.p50, 4);
    const mean = of((f) => f.mean, 4);
    results.set(v.figure, { p50: median(p50), mean: median(mean) });
    recordFigure({
      name: `${v.figure}.p50`,
      unit: "ms",
      median: roundTo(median(p50), 3),
      p99: roundTo(median(of((f) => f.p99, 4)), 3),
      ...(v.baseline ? { baseline: `${v.baseline}.p50` } : {}),
      description: `${v.description}: decision latency (a one-decision request timed from Node, minus the floor's p50)`,
      samples: p50,
    });
    recordFigure({
      name: `${v.figure}.mean`,
      unit: "ms",
      median: roundTo(median(mean), 3),
      ...(v.baseline ? { baseline: `${v.baseline}.mean` } : {}),
      description:
        `${v.description}: mean of ${rounds} decisions in a row inside workerd, no HTTP ` +
        "(workerd's clock moves only across I/O, so a decision without I/O counts as 0)",
      samples: mean,
    });
    if (v.variant.startsWith("upstash.")) {
      const commands = of((f) => f.commandsPerDecision, 3);
      const requests = median(of((f) => f.requestsPerDecision, 3));
      recordFigure({
        name: `${v.figure}.commands`,
        unit: "commands/decision",
        median: median(commands),
        description: `${v.description}: Redis commands per decision at the Upstash endpoint (HTTP requests per decision: ${requests})`,
        samples: commands,
      });
    }
  }
  return results;
}

/**
 * The gateway with a quota that never refuses against the gateway without one: one request at a time (the
 * latency a request pays), then under wrk (`measureHttp`, alternating the two), recording both differences.
 */
async function measureGatewayOverhead(ctx: BenchContext, urls: { quota: URL; none: URL }) {
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
