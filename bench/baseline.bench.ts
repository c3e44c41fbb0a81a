/**
 * HTTP baseline and gateway overhead (issues 6 and 22), in one run: a hello-world Hono worker (the ceiling), the
 * example's `GET /hello` served directly, and the same endpoint through the gateway on its full path (a bearer
 * token the route requires, a quota that never refuses, discovery with the example registered in the registry,
 * breaker and proxy), plus gateway variants that each leave one part out, to show where the time goes, and a minimal
 * proxy (the smallest Hono worker that forwards to the example over a service binding): the floor of one hop, which the
 * gateway's own work is measured above.
 *
 * Latency is measured three ways: unloaded (Node sends one request at a time, round-robin over every target, and
 * times it to the last byte), under wrk load (closed loop at saturation: queueing included), and at fixed offered
 * rates (open loop, a quarter and a half of hello-world's wrk maximum, timed from each request's scheduled send).
 * Under wrk the CPU time of each target's workerd is read from /proc and divided by the requests it served; CPU
 * ratios and differences are paired by round (the median of round _i_'s ratios, not the ratio of medians). Every
 * wrk figure is the median over `BENCH_REPEATS` runs; the added latency is the gateway's figure minus the direct
 * call's in the same run. `BENCH_OPEN_LOOP` sets the seconds per open-loop rate (default 60; 0 skips), and
 * `BENCH_PROFILE=1` also samples a CPU profile of each worker under wrk and logs its top frames.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { SignJWT } from "jose";
import { DEFAULT_AUDIENCE, DEFAULT_ISSUER } from "@foundation/service-kit/config";
import { serviceSecret } from "@foundation/event-bus/subscriber";
import { BENCH_JWT_SECRET, BENCH_SIGNING_SECRET } from "./lib/auth.ts";
import { defineBench, type BenchContext } from "./lib/context.ts";
import { startProfile, summarise } from "./lib/cpu-profile.ts";
import { percentile, SequentialHttpClient } from "./lib/latency.ts";
import {
  benchOnlyWorker,
  bundledWorker,
  readWranglerBasics,
  servedPid,
  stackBindings,
  upstashBindings,
  withWorkers,
  type BenchWorker,
  type ServedWorkers,
} from "./lib/miniflare.ts";
import { runOpenLoop } from "./lib/open-loop.ts";
import { recordFigure, RESULTS_DIR } from "./lib/results.ts";
import { median, roundTo } from "./lib/stats.ts";
import { checkEndpoint, ensureWrk, measureHttp, pairedCpu as paired, runWrk, type HttpMeasurement, type HttpTarget } from "./lib/wrk.ts";

const JWT_SECRET = BENCH_JWT_SECRET;
/** Unloaded requests per target and run, per second of `BENCH_DURATION` (2,000 at the default 10 s). */
const ROUNDS_PER_SECOND = 200;
/** Untimed unloaded rounds first: the first requests create the Durable Objects and fill the caches. */
const WARMUP_ROUNDS = 100;
const PATH = "/api/example/hello";
/** Where the publish target sends its single events: the event bus's own route on the full-path gateway. */
const PUBLISH_PATH = "/api/foundation/events/bench.baseline.publish";
const PUBLISH_BODY = JSON.stringify({ type: "bench.event", data: { v: "0123456789abcdef" } });
/** Route rules: the endpoint needs a valid token (the full path), or is public (no token verified). */
const ROUTE_AUTH = {
  token: JSON.stringify([{ path: PATH, methods: ["GET", "HEAD"], auth: "token" }]),
  public: JSON.stringify([{ path: PATH, methods: ["GET", "HEAD"], auth: "public" }]),
};
/**
 * A quota on `/api/` that never refuses; closed, so a limiter that cannot answer fails the run instead of waving
 * requests through. Its timeout is 5 s rather than the default 1 s: wrk saturates this 2-core machine, which
 * then stalls for a second or more now and then (hello-world shows multi-second p99s too), and a stall is not
 * the limiter failing. Leased (`reserve`), as a quota this far above one client's traffic would be configured: the
 * gateway asks its limiter object once per 100 requests. The `exact` one asks it on every request.
 */
const QUOTA_POLICY = { algorithm: "sliding-window", limit: 100_000_000, windowMs: 60_000 };
const QUOTAS = {
  leased: JSON.stringify([
    { name: "bench", path: "/api/", policy: { ...QUOTA_POLICY, reserve: 100 }, failMode: "closed", timeoutMs: 5000 },
  ]),
  exact: JSON.stringify([{ name: "bench", path: "/api/", policy: QUOTA_POLICY, failMode: "closed", timeoutMs: 5000 }]),
};

/** Offered rates of the open-loop runs, as shares of hello-world's maximum under wrk in the same run. */
const OPEN_LOOP_SHARES = [0.25, 0.5] as const;
/** The targets run open loop: the ceiling, the service direct, the floor of a hop, the gateway's full path. */
const OPEN_LOOP_FIGURES = ["hello", "example.direct", "proxy.minimal", "example.gateway"] as const;

/** Seconds per open-loop rate and target (`BENCH_OPEN_LOOP`, default 60; 0 skips them). */
function openLoopSeconds(env: Record<string, string | undefined>): number {
  const raw = env.BENCH_OPEN_LOOP?.trim() ?? "";
  if (raw === "") return 60;
  if (!/^\d+$/.test(raw)) throw new Error(`BENCH_OPEN_LOOP must be a whole number of seconds, got ${JSON.stringify(raw)}`);
  return Number(raw);
}

/** One gateway set-up: which parts of the path it runs. */
interface GatewayVariant {
  label: string;
  figure: string;
  /** Route needs a token, and the bench sends one; otherwise the route is public and no token is sent. */
  auth: boolean;
  quota: false | keyof typeof QUOTAS;
  /** The example is registered (routing by discovery); otherwise the registry knows nothing and the static binding is used. */
  registered: boolean;
  description: string;
}

/** The full path first; each other variant drops one part, the last all of them. */
const VARIANTS: readonly GatewayVariant[] = [
  {
    label: "gateway full path",
    figure: "example.gateway",
    auth: true,
    quota: "leased",
    registered: true,
    description: `\`GET ${PATH}\` through the gateway: bearer JWT required, quota (leased, reserve 100), example registered (discovery), breaker, proxy`,
  },
  {
    label: "gateway exact quota",
    figure: "gateway.exact-quota",
    auth: true,
    quota: "exact",
    registered: true,
    description: "gateway as the full path but the quota without `reserve`: the limiter object decides every request",
  },
  {
    label: "gateway no auth",
    figure: "gateway.no-auth",
    auth: false,
    quota: "leased",
    registered: true,
    description: "gateway as the full path but the route public and no token sent",
  },
  {
    label: "gateway no quota",
    figure: "gateway.no-quota",
    auth: true,
    quota: false,
    registered: true,
    description: "gateway as the full path but `RATE_LIMIT_POLICIES` = `[]`",
  },
  {
    label: "gateway static binding",
    figure: "gateway.static",
    auth: true,
    quota: "leased",
    registered: false,
    description: "gateway as the full path but the example not registered: the static `EXAMPLE` binding after an empty discovery",
  },
  {
    label: "gateway bare",
    figure: "gateway.bare",
    auth: false,
    quota: false,
    registered: false,
    description: "gateway with a public route, no quota, the static binding: breaker and proxy only",
  },
];

/** A target as every measurement sees it. */
interface Target extends HttpTarget {
  accept: (body: unknown) => boolean;
  /** The group of workers (one workerd) that serves it, and the worker that answers first. */
  group: string;
  worker: string;
}

const fmt = (ms: number) => ms.toFixed(3);
const field = (body: unknown, key: string) =>
  typeof body === "object" && body !== null ? (body as Record<string, unknown>)[key] : undefined;
const isExample = (body: unknown) => field(body, "service") === "example";

/** An HS256 token the bench gateways accept; admin, so it can also register the example. */
function benchToken(): Promise<string> {
  return new SignJWT({ scope: "admin" })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject("bench")
    .setIssuer(DEFAULT_ISSUER)
    .setAudience(DEFAULT_AUDIENCE)
    .setExpirationTime("2h")
    .sign(new TextEncoder().encode(JWT_SECRET));
}

/** The gateway worker of a variant, with its Durable Objects and the `EXAMPLE` binding. */
function gatewayWorker(root: string, bindings: Record<string, string>, v: GatewayVariant, exampleName: string): BenchWorker {
  const vars = {
    ...bindings,
    JWT_SECRET,
    // Signs the identity assertion the gateway sends the example for an authenticated caller.
    EVENT_SIGNING_SECRET: BENCH_SIGNING_SECRET,
    ROUTE_AUTH: v.auth ? ROUTE_AUTH.token : ROUTE_AUTH.public,
    RATE_LIMIT_POLICIES: v.quota ? QUOTAS[v.quota] : "[]",
  };
  const sqlite = (className: string) => ({ className, useSQLite: true });
  return {
    ...bundledWorker(resolve(root, "dist/gateway/index.js"), resolve(root, "wrangler.toml"), vars, { EXAMPLE: exampleName }),
    durableObjects: {
      RATE_LIMITER: sqlite("RateLimiter"),
      SERVICE_REGISTRY: sqlite("ServiceRegistry"),
      SERVICE_DIRECTORY: sqlite("ServiceDirectory"),
      METRICS_AGGREGATOR: sqlite("MetricsAggregator"),
    },
  };
}

/** Throws unless the publish target accepts its event (202), before any load is put on it. */
async function checkPublish(t: HttpTarget, signal: AbortSignal): Promise<void> {
  const res = await fetch(t.url, { method: "POST", headers: { ...t.headers, "content-type": "application/json" }, body: t.body, signal });
  const text = await res.text();
  if (res.status !== 202) throw new Error(`${t.label}: POST ${t.url} answered ${res.status}: ${text.slice(0, 500)}`);
}

/** Registers the example's `EXAMPLE` binding as an instance in the gateway's registry. */
async function registerExample(base: URL, token: string, signal: AbortSignal): Promise<void> {
  const res = await fetch(new URL("/api/foundation/services", base), {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "example", binding: "EXAMPLE", version: "0.1.0", ttlSeconds: 3600 }),
    signal,
  });
  if (res.status !== 201) throw new Error(`registering the example answered ${res.status}: ${await res.text()}`);
}

/** Throws unless the registry lists the example as `passing` exactly when the variant registered it. */
async function checkDiscovery(base: URL, token: string, v: GatewayVariant, signal: AbortSignal): Promise<void> {
  const res = await fetch(new URL("/api/foundation/services/example", base), { headers: { authorization: `Bearer ${token}` }, signal });
  const text = await res.text();
  const instances = res.status === 200 ? ((JSON.parse(text) as { instances?: { status?: string }[] }).instances ?? []) : [];
  const passing = instances.filter((i) => i.status === "passing").length;
  if (passing !== (v.registered ? 1 : 0)) {
    throw new Error(
      `${v.label}: expected ${v.registered ? "one" : "no"} passing example instance, registry answered ${res.status} ${text}`,
    );
  }
}

/** Throws unless the gateway refuses the route without a token exactly when it needs one, and applies the quota exactly when set. */
async function checkGatewayPath(t: Target, v: GatewayVariant, signal: AbortSignal): Promise<void> {
  const anonymous = await fetch(t.url, { signal });
  await anonymous.body?.cancel();
  if ((anonymous.status === 401) !== v.auth) throw new Error(`${v.label}: without a token it answered ${anonymous.status}`);
  const res = await fetch(t.url, { headers: t.headers, signal });
  await res.body?.cancel();
  const policy = res.headers.get("ratelimit-policy");
  if ((policy?.includes('"bench"') ?? false) !== (v.quota !== false))
    throw new Error(`${v.label}: unexpected RateLimit-Policy ${JSON.stringify(policy)}`);
}

/**
 * Times every target `rounds` times, one request at a time, starting one target later each round so drift and
 * pauses spread evenly; returns each figure's latencies (ms). Throws on the first unexpected answer.
 */
async function timeRoundRobin(client: SequentialHttpClient, targets: readonly Target[], rounds: number, signal: AbortSignal) {
  const samples = new Map<string, number[]>(targets.map((t) => [t.figure, []]));
  for (let i = 0; i < rounds; i++) {
    signal.throwIfAborted();
    for (let k = 0; k < targets.length; k++) {
      const t = targets[(i + k) % targets.length] as Target;
      const r = await client.get(t.url, signal, t.headers);
      if (r.status !== 200 || !t.accept(r.body)) throw new Error(`${t.label}: GET ${t.url} answered ${r.status} ${JSON.stringify(r.body)}`);
      samples.get(t.figure)?.push(r.ms);
    }
  }
  return samples;
}

/** Unloaded p50 and p99 of every target, per run (ms). */
async function measureUnloaded(ctx: BenchContext, targets: readonly Target[]): Promise<Map<string, { p50: number[]; p99: number[] }>> {
  const rounds = ROUNDS_PER_SECOND * ctx.settings.durationSec;
  const runs = new Map(targets.map((t) => [t.figure, { p50: [] as number[], p99: [] as number[] }]));
  const client = new SequentialHttpClient();
  try {
    await timeRoundRobin(client, targets, WARMUP_ROUNDS, ctx.signal);
    for (let run = 1; run <= ctx.settings.repeats; run++) {
      const samples = await timeRoundRobin(client, targets, rounds, ctx.signal);
      const line: string[] = [];
      for (const t of targets) {
        const s = samples.get(t.figure) ?? [];
        const r = runs.get(t.figure);
        r?.p50.push(percentile(s, 50));
        r?.p99.push(percentile(s, 99));
        line.push(`${t.label} ${fmt(percentile(s, 50))}/${fmt(percentile(s, 99))}`);
      }
      ctx.log(`unloaded ${run}/${ctx.settings.repeats}, ${rounds} requests each, p50/p99 ms: ${line.join(", ")}`);
    }
  } finally {
    client.close();
  }
  return runs;
}

/** Records the unloaded figures and the gateways' added unloaded latency; returns the added p50 and p99 per gateway figure. */
function recordUnloaded(ctx: BenchContext, targets: readonly Target[], runs: Map<string, { p50: number[]; p99: number[] }>) {
  const rounds = ROUNDS_PER_SECOND * ctx.settings.durationSec;
  const direct = runs.get("example.direct");
  const added = new Map<string, { p50: number; p99: number }>();
  for (const t of targets) {
    const r = runs.get(t.figure);
    if (!r || !direct) continue;
    recordFigure({
      name: `${t.figure}.unloaded.p50`,
      unit: "ms",
      median: roundTo(median(r.p50), 3),
      p99: roundTo(median(r.p99), 3),
      ...(t.baseline ? { baseline: `${t.baseline}.unloaded.p50` } : {}),
      description: `${t.description}: latency unloaded (${rounds} requests one at a time, Node-timed)`,
      samples: r.p50.map((x) => roundTo(x, 3)),
    });
    if (t.baseline !== "example.direct") continue;
    const p50 = r.p50.map((x, i) => x - (direct.p50[i] ?? Number.NaN));
    const p99 = r.p99.map((x, i) => x - (direct.p99[i] ?? Number.NaN));
    added.set(t.figure, { p50: median(p50), p99: median(p99) });
    recordFigure({
      name: `${t.figure}.added.unloaded.p50`,
      unit: "ms",
      median: roundTo(median(p50), 3),
      p99: roundTo(median(p99), 3),
      description: `${t.description}: added latency unloaded, p50 (and p99) minus the direct call's in the same run`,
      samples: p50.map((x) => roundTo(x, 3)),
    });
  }
  return added;
}

/** Records the gateways' added latency under wrk (includes queueing); returns it per gateway figure. */
function recordLoaded(ctx: BenchContext, targets: readonly Target[], m: Map<string, HttpMeasurement>) {
  const direct = m.get("example.direct");
  const added = new Map<string, { p50: number; p99: number }>();
  for (const t of targets) {
    const g = m.get(t.figure);
    if (!g || !direct || t.baseline !== "example.direct") continue;
    const a = { p50: g.p50 - direct.p50, p99: g.p99 - direct.p99 };
    added.set(t.figure, a);
    recordFigure({
      name: `${t.figure}.added.p50`,
      unit: "ms",
      median: roundTo(a.p50, 3),
      p99: roundTo(a.p99, 3),
      description: `${t.description}: added latency under wrk (${ctx.settings.connections} connections, queueing included), p50 (and p99) minus the direct call's`,
    });
  }
  return added;
}

/** Logs the targets of issue 6 and where the full path's time goes (the full path minus each variant). */
function logVerdict(
  ctx: BenchContext,
  m: Map<string, HttpMeasurement>,
  unloaded: Map<string, { p50: number; p99: number }>,
  loaded: Map<string, { p50: number; p99: number }>,
): void {
  const direct = m.get("example.direct");
  const full = m.get("example.gateway");
  const u = unloaded.get("example.gateway");
  const l = loaded.get("example.gateway");
  if (!direct || !full || !u || !l) return;
  const share = full.rps / direct.rps;
  const verdict = (ok: boolean) => (ok ? "met" : "MISSED");
  ctx.log(`gateway/direct throughput ${share.toFixed(2)}× (target ≥ 0.5: ${verdict(share >= 0.5)})`);
  ctx.log(
    `added latency unloaded p50 ${fmt(u.p50)} ms (target < 1: ${verdict(u.p50 < 1)}), p99 ${fmt(u.p99)} ms (target < 5: ${verdict(u.p99 < 5)})`,
  );
  ctx.log(`added latency under wrk p50 ${fmt(l.p50)} ms, p99 ${fmt(l.p99)} ms (queueing included)`);
  for (const v of VARIANTS.slice(1)) {
    const vu = unloaded.get(v.figure);
    const vm = m.get(v.figure);
    if (!vu || !vm) continue;
    ctx.log(
      `${v.label}: ${Math.round(vm.rps)} req/s (${(vm.rps / direct.rps).toFixed(2)}× direct); full path minus this: ` +
        `unloaded p50 ${fmt(u.p50 - vu.p50)} ms, under wrk p50 ${fmt(full.p50 - vm.p50)} ms`,
    );
  }
}

/**
 * Records CPU per request as the issue's ratios, each the median over rounds of a ratio within one round (a slow
 * spell of this shared machine hits both sides of a pair alike): the example against hello-world; what each gateway
 * variant's workerd (gateway and example in one process) adds over the example's own, and that against the example's
 * own; and the gateway's own work, its CPU minus the minimal proxy's (the hop itself).
 */
function recordAddedCpu(ctx: BenchContext, targets: readonly Target[], m: Map<string, HttpMeasurement>): void {
  const direct = m.get("example.direct");
  const hello = m.get("hello");
  const proxy = m.get("proxy.minimal");
  const overHello = paired(direct, hello, (x, y) => x / y);
  if (!direct?.cpuUs || !overHello) return;
  recordFigure({
    name: "example.direct.cpu-over-hello",
    unit: "×",
    median: roundTo(overHello.median, 3),
    description:
      "CPU per request of the example direct over hello-world's, paired by round (the kit's middleware on top of a Hono request)",
    samples: overHello.samples,
  });
  const overTurn = paired(direct, m.get("hello.turn"), (x, y) => x / y);
  if (overTurn)
    recordFigure({
      name: "example.direct.cpu-over-hello-turn",
      unit: "×",
      median: roundTo(overTurn.median, 3),
      description:
        "CPU per request of the example direct over that of a hello-world that also takes one turn of the event loop, paired by round (the kit's own work, the turn left out)",
      samples: overTurn.samples,
    });
  for (const t of targets) {
    const target = m.get(t.figure);
    if (target?.cpuUs === undefined || t.baseline !== "example.direct") continue;
    const added = paired(target, direct, (x, y) => x - y);
    const addedRatio = paired(target, direct, (x, y) => (x - y) / y);
    if (!added || !addedRatio) continue;
    recordFigure({
      name: `${t.figure}.added.cpu`,
      unit: "µs/request",
      median: roundTo(added.median, 1),
      description: `${t.description}: CPU per request its workerd adds over the example's own (its process minus the example's alone, paired by round)`,
      samples: added.samples,
    });
    recordFigure({
      name: `${t.figure}.added.cpu-over-example`,
      unit: "×",
      median: roundTo(addedRatio.median, 3),
      description: `${t.description}: the CPU it adds per request over the example's own CPU per request, paired by round`,
      samples: addedRatio.samples,
    });
    const own = t.figure === "proxy.minimal" ? undefined : paired(target, proxy, (x, y) => x - y);
    if (own) {
      recordFigure({
        name: `${t.figure}.own.cpu`,
        unit: "µs/request",
        median: roundTo(own.median, 1),
        baseline: "example.direct.cpu",
        description: `${t.description}: CPU per request over the minimal proxy's (the gateway's own work beyond the hop, paired by round)`,
        samples: own.samples,
      });
    }
    ctx.log(
      `${t.label}: ${Math.round(target.cpuUs)} µs CPU/request, ${Math.round(added.median)} µs over the example's ` +
        `${Math.round(direct.cpuUs)} µs (${addedRatio.median.toFixed(2)}×)` +
        (own ? `, ${Math.round(own.median)} µs over the minimal proxy` : ""),
    );
  }
}

/**
 * Records what a publish costs over its floor, as {@link recordAddedCpu} does for routing: the gateway's CPU per
 * single-event publish minus the minimal publisher's (one `XADD` over REST), and the two floors against each other
 * (the minimal publisher's CPU per request over the minimal proxy's, paired by round).
 */
function recordPublishCpu(ctx: BenchContext, m: Map<string, HttpMeasurement>): void {
  const publish = m.get("gateway.publish.single");
  const floor = m.get("publish.minimal");
  const proxy = m.get("proxy.minimal");
  const own = paired(publish, floor, (x, y) => x - y);
  if (own) {
    recordFigure({
      name: "gateway.publish.single.own.cpu",
      unit: "µs/request",
      median: roundTo(own.median, 1),
      description:
        "single-event publish through the full-path gateway: CPU per request over the minimal publisher's (the gateway's own work beyond one XADD over REST, paired by round)",
      samples: own.samples,
    });
  }
  const floors = paired(floor, proxy, (x, y) => x / y);
  if (floors) {
    recordFigure({
      name: "publish.minimal.cpu-over-proxy",
      unit: "×",
      median: roundTo(floors.median, 3),
      description:
        "CPU per request of the minimal publisher over the minimal proxy's, paired by round: one XADD over REST against one service-binding hop to the example",
      samples: floors.samples,
    });
  }
  if (own && floors) {
    ctx.log(
      `gateway publish: ${Math.round(own.median)} µs CPU/request over the minimal publisher; the minimal publisher costs ` +
        `${floors.median.toFixed(2)}× the minimal proxy's CPU per request`,
    );
  }
}

/**
 * Offers the open-loop targets a quarter and a half of hello-world's wrk maximum, `seconds` each, and records
 * p50/p99/p99.9 (timed from each request's scheduled send) and errors; the gateway's and the example's p99 with
 * hello-world's at the same rate as baseline.
 */
async function measureOpenLoop(ctx: BenchContext, targets: readonly Target[], helloRps: number, seconds: number): Promise<void> {
  const chosen = OPEN_LOOP_FIGURES.map((f) => targets.find((t) => t.figure === f)).filter((t): t is Target => t !== undefined);
  for (const share of OPEN_LOOP_SHARES) {
    const rate = Math.round(helloRps * share);
    const pct = Math.round(share * 100);
    for (const t of chosen) {
      ctx.signal.throwIfAborted();
      const r = await runOpenLoop({ url: t.url, headers: t.headers, rate, durationSec: seconds, signal: ctx.signal });
      const kinds =
        r.errors > 0
          ? ` (${Object.entries(r.errorKinds)
              .map(([k, n]) => `${k} ${n}`)
              .join(", ")})`
          : "";
      ctx.log(
        `${t.label} open loop at ${rate} req/s (${pct} % of hello-world's maximum), ${seconds} s: p50 ${fmt(r.p50)} ms, ` +
          `p99 ${fmt(r.p99)} ms, p99.9 ${fmt(r.p999)} ms, max ${fmt(r.max)} ms, ${r.errors} errors of ${r.sent}${kinds}; generator lag p99 ${fmt(r.sendLagP99)} ms`,
      );
      const name = `${t.figure}.open${pct}`;
      const what = `${t.description}: open loop at ${rate} req/s (${pct} % of hello-world's wrk maximum in this run), ${seconds} s, latency from each request's scheduled send`;
      const base = t.figure === "hello" ? {} : { baseline: `hello.open${pct}.p99` };
      recordFigure({
        name: `${name}.p50`,
        unit: "ms",
        median: roundTo(r.p50, 3),
        p99: roundTo(r.p99, 3),
        description: `${what}: p50 (and p99)`,
      });
      recordFigure({ name: `${name}.p99`, unit: "ms", median: roundTo(r.p99, 3), ...base, description: `${what}: p99` });
      recordFigure({ name: `${name}.p999`, unit: "ms", median: roundTo(r.p999, 3), description: `${what}: p99.9` });
      recordFigure({
        name: `${name}.errors`,
        unit: "errors",
        median: r.errors,
        description: `${what}: non-2xx answers, socket errors and timeouts (10 s) of ${r.sent} requests${kinds}`,
      });
    }
  }
}

/**
 * `BENCH_PROFILE=1`: samples a CPU profile of each target's first worker during one wrk run, logs its top frames and
 * writes it to `bench/results/raw/<figure>.cpuprofile` (Chrome DevTools opens it).
 */
async function profileTargets(ctx: BenchContext, targets: readonly Target[], served: Record<string, ServedWorkers>): Promise<void> {
  const dir = resolve(RESULTS_DIR, "raw");
  mkdirSync(dir, { recursive: true });
  for (const t of targets) {
    const inspector = served[t.group]?.inspectorUrl;
    if (!inspector) continue;
    const profiling = await startProfile(inspector, t.worker);
    const { threads, connections, durationSec } = ctx.settings;
    await runWrk({ url: t.url, headers: t.headers, body: t.body, threads, connections, durationSec, signal: ctx.signal });
    const profile = await profiling.stop();
    writeFileSync(resolve(dir, `${t.figure}.cpuprofile`), JSON.stringify(profile));
    const top = summarise(profile, 25)
      .map(
        (f) => `  ${(f.selfShare * 100).toFixed(1).padStart(5)} % self ${(f.totalShare * 100).toFixed(1).padStart(5)} % total  ${f.frame}`,
      )
      .join("\n");
    ctx.log(`${t.label}: top frames of ${t.worker} under wrk (share of busy samples):\n${top}`);
  }
}

export default defineBench({
  name: "baseline",
  description:
    "hello-world worker, example direct, example through the gateway's full path and variants: throughput, latency unloaded and under wrk",
  async run(ctx) {
    await ensureWrk(ctx.log, ctx.signal);
    const at = (...p: string[]) => resolve(ctx.root, ...p);
    const bindings = stackBindings(ctx.stack);
    const exampleConfig = at("workers/example/wrangler.toml");
    const exampleBasics = readWranglerBasics(exampleConfig);
    const exampleSecret = await serviceSecret(BENCH_SIGNING_SECRET, "example");
    const example = bundledWorker(at("dist/example/index.js"), exampleConfig, { ...bindings, EVENT_SIGNING_SECRET: exampleSecret });
    const hello = await benchOnlyWorker("bench-hello", at("bench/workers/hello.ts"), exampleConfig);
    const helloTurn = await benchOnlyWorker("bench-hello-turn", at("bench/workers/hello-turn.ts"), exampleConfig);
    const proxy = {
      ...(await benchOnlyWorker("bench-proxy", at("bench/workers/proxy.ts"), exampleConfig)),
      serviceBindings: { EXAMPLE: exampleBasics.name },
    };
    const publisher = await benchOnlyWorker("bench-publisher", at("bench/workers/publisher.ts"), exampleConfig, {
      bindings: upstashBindings(ctx.stack),
    });
    const token = await benchToken();
    const groups: Record<string, BenchWorker[]> = {
      "hello-world": [hello],
      "hello-world with a turn": [helloTurn],
      example: [example],
      "minimal proxy": [proxy, example],
      "minimal publisher": [publisher],
    };
    for (const v of VARIANTS) groups[v.label] = [gatewayWorker(ctx.root, bindings, v, exampleBasics.name), example];

    // `BENCH_PROFILE=1` profiles every target; a comma-separated list of figure names, only those.
    const profileOnly = (process.env.BENCH_PROFILE ?? "").split(",").filter((f) => f !== "" && f !== "0" && f !== "1");
    const profiling = process.env.BENCH_PROFILE === "1" || profileOnly.length > 0;
    const openSeconds = openLoopSeconds(process.env);
    const gatewayName = readWranglerBasics(at("wrangler.toml")).name;

    const run = async (urls: Record<string, URL>, served: Record<string, ServedWorkers>) => {
      const url = (label: string, path: string) => new URL(path, urls[label]).href;
      const pid = (label: string) => ({ pid: servedPid(served, label) });
      const targets: Target[] = [
        {
          label: "hello-world",
          figure: "hello",
          url: url("hello-world", "/"),
          description: "Hono hello-world worker (ceiling)",
          accept: (b) => field(b, "hello") === "world",
          group: "hello-world",
          worker: hello.name,
          ...pid("hello-world"),
        },
        {
          label: "hello-world with a turn",
          figure: "hello.turn",
          url: url("hello-world with a turn", "/"),
          description: "Hono hello-world whose handler first takes one turn of the event loop, as the kit's requests do",
          baseline: "hello",
          accept: (b) => field(b, "hello") === "world",
          group: "hello-world with a turn",
          worker: helloTurn.name,
          ...pid("hello-world with a turn"),
        },
        {
          label: "example direct",
          figure: "example.direct",
          url: url("example", "/hello"),
          description: "`GET /hello` on the example service, served directly",
          baseline: "hello",
          accept: isExample,
          group: "example",
          worker: example.name,
          ...pid("example"),
        },
        {
          label: "minimal proxy",
          figure: "proxy.minimal",
          url: url("minimal proxy", PATH),
          description: `\`GET ${PATH}\` through the smallest Hono worker that forwards it to the example over a service binding (the floor of a hop)`,
          baseline: "example.direct",
          accept: isExample,
          group: "minimal proxy",
          worker: proxy.name,
          ...pid("minimal proxy"),
        },
        ...VARIANTS.map((v) => ({
          label: v.label,
          figure: v.figure,
          url: url(v.label, PATH),
          ...(v.auth ? { headers: { authorization: `Bearer ${token}` } } : {}),
          description: v.description,
          baseline: "example.direct",
          accept: isExample,
          group: v.label,
          worker: gatewayName,
          ...pid(v.label),
        })),
      ];
      for (const v of VARIANTS) {
        const base = urls[v.label] as URL;
        if (v.registered) await registerExample(base, token, ctx.signal);
        await checkDiscovery(base, token, v, ctx.signal);
      }
      // A single-event publish through the same gateway as the full path (its token, quota and kit), measured in the
      // same interleaved wrk rounds as the routed GET it is compared with.
      const publish: Target = {
        label: "gateway publish",
        figure: "gateway.publish.single",
        url: url("gateway full path", PUBLISH_PATH),
        headers: { authorization: `Bearer ${token}` },
        body: PUBLISH_BODY,
        description: `\`POST ${PUBLISH_PATH.replace("bench.baseline.publish", ":stream")}\` with one event through the full-path gateway (bearer JWT, quota, validation, envelope, one Redis script)`,
        baseline: "example.gateway",
        accept: () => true,
        group: "gateway full path",
        worker: gatewayName,
        ...pid("gateway full path"),
      };
      // The floor of a publish, as the minimal proxy is the floor of routing: one XADD over the Upstash REST protocol.
      const publishFloor: Target = {
        label: "minimal publisher",
        figure: "publish.minimal",
        url: url("minimal publisher", PUBLISH_PATH),
        body: PUBLISH_BODY,
        description: `\`POST ${PUBLISH_PATH.replace("bench.baseline.publish", ":stream")}\` on the smallest Hono worker that appends the body to a stream with one \`XADD\` over the Upstash REST protocol (the floor of a publish)`,
        baseline: "proxy.minimal",
        accept: () => true,
        group: "minimal publisher",
        worker: publisher.name,
        ...pid("minimal publisher"),
      };
      for (const t of targets) await checkEndpoint(t.url, t.accept, ctx.signal, t.headers);
      await checkPublish(publish, ctx.signal);
      await checkPublish(publishFloor, ctx.signal);
      for (const v of VARIANTS) await checkGatewayPath(targets.find((t) => t.figure === v.figure) as Target, v, ctx.signal);

      const unloaded = recordUnloaded(ctx, targets, await measureUnloaded(ctx, targets));
      const m = await measureHttp(ctx, [...targets, publish, publishFloor]);
      logVerdict(ctx, m, unloaded, recordLoaded(ctx, targets, m));
      recordAddedCpu(ctx, targets, m);
      recordPublishCpu(ctx, m);
      const helloRps = m.get("hello")?.rps;
      if (openSeconds > 0 && helloRps !== undefined) await measureOpenLoop(ctx, targets, helloRps, openSeconds);
      if (profiling) {
        const all = [...targets, publish, publishFloor];
        await profileTargets(ctx, profileOnly.length > 0 ? all.filter((t) => profileOnly.includes(t.figure)) : all, served);
      }
    };
    await withWorkers(groups, ctx.log, run, profiling ? { inspectorPort: 0 } : {});
  },
});
