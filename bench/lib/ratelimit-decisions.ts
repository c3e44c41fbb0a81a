/**
 * The rate-limit bench's decision figures: every decision path of the bench worker (bench/workers/ratelimit.ts),
 * timed from Node one request at a time minus a no-decision floor, its mean over a loop inside workerd, and the
 * Redis commands each @upstash/ratelimit decision costs at the local Upstash endpoint.
 */
import type { BenchContext } from "./context.ts";
import { percentile, SequentialHttpClient } from "./latency.ts";
import { fmt, ROUNDS_PER_SECOND, show, timeRoundRobin, WARMUP_ROUNDS, type Probe } from "./ratelimit-probes.ts";
import { recordFigure } from "./results.ts";
import { median, roundTo } from "./stats.ts";
import type { DecideAnswer, LoopAnswer, Variant } from "../workers/ratelimit-api.ts";

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
export async function measureDecisions(ctx: BenchContext, base: URL): Promise<Map<string, { p50: number; mean: number }>> {
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
