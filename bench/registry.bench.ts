/**
 * Service registry (issue 3): discovery from the isolate's cache and from the `ServiceRegistry` Durable Object,
 * both inside workerd, and registrations and heartbeats per second through the gateway's HTTP API.
 *
 * workerd's clock only moves in whole milliseconds. A cached lookup takes well under a microsecond, so it is
 * timed as the mean of a loop of thousands inside workerd, and its p99 is over those loops (a single lookup's
 * tail cannot be seen in there). An uncached lookup is a Durable Object round trip: Node times one-lookup
 * requests against a no-lookup floor, round-robin, and the lookup's latency is the difference; a loop inside
 * workerd gives the mean as a cross-check. Writes go through the gateway under wrk, with Lua request generators.
 */
import { resolve } from "node:path";
import { BENCH_JWT_SECRET, benchToken } from "./lib/auth.ts";
import { defineBench, type BenchContext } from "./lib/context.ts";
import { percentile, SequentialHttpClient } from "./lib/latency.ts";
import { benchOnlyWorker, bundledWorker, readWranglerBasics, stackBindings, withWorkers, type BenchWorker } from "./lib/miniflare.ts";
import { recordFigure } from "./lib/results.ts";
import { median, roundTo } from "./lib/stats.ts";
import { ensureWrk, runWrkScript } from "./lib/wrk.ts";
import type { WrkResult } from "./lib/wrk-output.ts";
import type { LookupAnswer, LoopAnswer, Mode } from "./workers/registry.ts";

/** Instances of the service looked up: a small service, as most are. */
const INSTANCES = 3;
const SERVICE = "bench-lookup";
/** Cached lookups per `/loop` sample (about 10 ms of work, so the 1 ms clock costs ~10 % at most). */
const CACHED_LOOP = 20_000;
/** `/loop` samples of cached lookups per run. */
const CACHED_SAMPLES = 100;
/** One-lookup requests per run and per mode, per second of `BENCH_DURATION`. */
const ROUNDS_PER_SECOND = 100;
const WARMUP_ROUNDS = 50;
/** Instances heartbeated in the heartbeat figure: 20 services of 50. */
const HEARTBEAT_SERVICES = 20;
const HEARTBEAT_INSTANCES = 50;

const fmt = (ms: number) => ms.toFixed(3);

/** Times one-lookup requests round-robin over the floor and the uncached lookup; returns each one's latencies (ms). */
async function timeLookups(client: SequentialHttpClient, base: URL, rounds: number, signal: AbortSignal): Promise<Record<Mode, number[]>> {
  const samples: Record<Mode, number[]> = { none: [], uncached: [], cached: [] };
  const modes: Mode[] = ["none", "uncached"];
  for (let i = 0; i < rounds; i++) {
    signal.throwIfAborted();
    for (let k = 0; k < modes.length; k++) {
      const mode = modes[(i + k) % modes.length] as Mode;
      const r = await client.get(new URL(`/lookup?mode=${mode}&name=${SERVICE}`, base).href, signal);
      const body = r.body as Partial<LookupAnswer>;
      const want = mode === "none" ? 0 : INSTANCES;
      if (r.status !== 200 || body.instances !== want)
        throw new Error(`/lookup?mode=${mode} answered ${r.status} ${JSON.stringify(r.body)}`);
      samples[mode].push(r.ms);
    }
  }
  return samples;
}

async function loop(client: SequentialHttpClient, base: URL, mode: Mode, n: number, signal: AbortSignal): Promise<LoopAnswer> {
  const r = await client.get(new URL(`/loop?mode=${mode}&name=${SERVICE}&n=${n}`, base).href, signal);
  const body = r.body as LoopAnswer;
  if (r.status !== 200 || body.instances !== INSTANCES || body.n !== n)
    throw new Error(`/loop?mode=${mode} answered ${r.status} ${JSON.stringify(r.body)}`);
  return body;
}

/** Cached and uncached discovery inside workerd, over `settings.repeats` runs. */
async function measureDiscovery(ctx: BenchContext, base: URL): Promise<{ cachedP99Ns: number; uncachedP50Ms: number }> {
  const client = new SequentialHttpClient();
  const rounds = ROUNDS_PER_SECOND * ctx.settings.durationSec;
  const runs: { cachedNs: number[]; floor: number[]; uncached: number[]; loopMs: number }[] = [];
  try {
    const setup = await client.get(new URL(`/setup?name=${SERVICE}&instances=${INSTANCES}`, base).href, ctx.signal);
    if (setup.status !== 200) throw new Error(`/setup answered ${setup.status} ${JSON.stringify(setup.body)}`);
    await timeLookups(client, base, WARMUP_ROUNDS, ctx.signal);
    await loop(client, base, "cached", CACHED_LOOP, ctx.signal);
    for (let run = 1; run <= ctx.settings.repeats; run++) {
      const cachedNs: number[] = [];
      for (let i = 0; i < CACHED_SAMPLES; i++) {
        const l = await loop(client, base, "cached", CACHED_LOOP, ctx.signal);
        cachedNs.push((l.elapsedMs * 1e6) / l.n);
      }
      const s = await timeLookups(client, base, rounds, ctx.signal);
      const uncachedLoop = await loop(client, base, "uncached", rounds, ctx.signal);
      runs.push({ cachedNs, floor: s.none, uncached: s.uncached, loopMs: uncachedLoop.elapsedMs / uncachedLoop.n });
      ctx.log(
        `registry discovery run ${run}: cached ${Math.round(percentile(cachedNs, 50))} ns (p99 of ${CACHED_LOOP}-lookup loops ` +
          `${Math.round(percentile(cachedNs, 99))} ns); uncached p50 ${fmt(percentile(s.uncached, 50) - percentile(s.none, 50))} ms, ` +
          `p99 ${fmt(percentile(s.uncached, 99) - percentile(s.none, 50))} ms (minus floor p50 ${fmt(percentile(s.none, 50))} ms); ` +
          `in-workerd uncached mean ${fmt(uncachedLoop.elapsedMs / uncachedLoop.n)} ms`,
      );
    }
  } finally {
    client.close();
  }
  const per = (pick: (r: (typeof runs)[number]) => number, decimals: number) => runs.map((r) => roundTo(pick(r), decimals));
  const cachedP50 = per((r) => percentile(r.cachedNs, 50), 1);
  const cachedP99 = per((r) => percentile(r.cachedNs, 99), 1);
  recordFigure({
    name: "registry.discovery.cached",
    unit: "ns",
    median: median(cachedP50),
    p99: median(cachedP99),
    description:
      `\`RegistryClient.discover(name, { passing: true })\` answered from the isolate's cache (1 s staleness bound, its misses included), ` +
      `${INSTANCES} instances, inside workerd: mean of ${CACHED_LOOP} lookups in a row; p99 over ${CACHED_SAMPLES} such loops`,
    samples: cachedP50,
  });
  const floorP50 = per((r) => percentile(r.floor, 50), 4);
  recordFigure({
    name: "registry.discovery.floor.p50",
    unit: "ms",
    median: roundTo(median(floorP50), 3),
    p99: roundTo(median(per((r) => percentile(r.floor, 99), 4)), 3),
    description: "Node → bench worker → Node, one request at a time taking no lookup: the floor subtracted from the uncached figure",
    samples: floorP50,
  });
  const uncachedP50 = per((r) => percentile(r.uncached, 50) - percentile(r.floor, 50), 4);
  recordFigure({
    name: "registry.discovery.uncached.p50",
    unit: "ms",
    median: roundTo(median(uncachedP50), 3),
    p99: roundTo(median(per((r) => percentile(r.uncached, 99) - percentile(r.floor, 50), 4)), 3),
    description: `uncached lookup: a \`ServiceRegistry\` RPC (${INSTANCES} instances) from a worker, one-lookup request timed from Node minus the floor's p50`,
    samples: uncachedP50,
  });
  const loopMean = per((r) => r.loopMs, 4);
  recordFigure({
    name: "registry.discovery.uncached.mean",
    unit: "ms",
    median: roundTo(median(loopMean), 3),
    description: "uncached lookup: mean of a loop of lookups in a row inside workerd, no HTTP",
    samples: loopMean,
  });
  return { cachedP99Ns: median(cachedP99), uncachedP50Ms: median(uncachedP50) };
}

/** wrk request generators (Lua): every registration a new instance, spread over 25 services per wrk thread. */
const REGISTER_LUA = `
local token, run, threads = "%TOKEN%", "%RUN%", 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
local n = 0
function request()
  n = n + 1
  local name = string.format("bench-%s-t%d-s%d-%d", run, tid, n % 25, math.floor(n / 22500))
  local body = string.format('{"name":"%s","url":"https://i%d.%s.example.com/","version":"1.0.0","ttlSeconds":3600}', name, n, name)
  return wrk.format("POST", "/api/foundation/services", { ["authorization"] = "Bearer " .. token, ["content-type"] = "application/json" }, body)
end
`;

/** Heartbeats over a fixed set of instances, each wrk thread starting at a different one. */
const HEARTBEAT_LUA = `
local token, threads, i = "%TOKEN%", 0, 0
local paths = { %PATHS% }
function setup(thread) threads = threads + 1; thread:set("offset", threads * 7919) end
function request()
  i = i + 1
  local path = paths[((i + offset) % #paths) + 1]
  return wrk.format("PUT", path, { ["authorization"] = "Bearer " .. token, ["content-type"] = "application/json" }, '{"status":"passing"}')
end
`;

/** Registers the instances the heartbeat figure beats, and returns their heartbeat paths. */
async function heartbeatPaths(base: URL, token: string): Promise<string[]> {
  const paths: string[] = [];
  const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
  for (let s = 0; s < HEARTBEAT_SERVICES; s++) {
    const name = `bench-hb-${s}`;
    for (let i = 0; i < HEARTBEAT_INSTANCES; i++) {
      const body = JSON.stringify({ name, url: `https://i${i}.${name}.example.com/`, version: "1.0.0", ttlSeconds: 3600 });
      const res = await fetch(new URL("/api/foundation/services", base), { method: "POST", headers, body });
      const answer = (await res.json()) as { instanceId?: string };
      if (res.status !== 201 || !answer.instanceId) throw new Error(`registering ${name} answered ${res.status} ${JSON.stringify(answer)}`);
      paths.push(`/api/foundation/services/${name}/instances/${answer.instanceId}/heartbeat`);
    }
  }
  return paths;
}

/**
 * Waits until one heartbeat answers 200 within a second: after a burst of registrations the registry objects
 * still write through to Postgres for a while, and a phase measured during that catch-up measures the backlog.
 * Returns how long the catch-up took.
 */
async function settle(base: URL, token: string, path: string, signal: AbortSignal): Promise<number> {
  const started = performance.now();
  const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
  while (performance.now() - started < 120_000) {
    signal.throwIfAborted();
    const sent = performance.now();
    const res = await fetch(new URL(path, base), {
      method: "PUT",
      headers,
      body: "{}",
      signal: AbortSignal.any([signal, AbortSignal.timeout(10_000)]),
    }).catch(() => undefined);
    await res?.arrayBuffer();
    if (res?.status === 200 && performance.now() - sent < 1000) return (performance.now() - started) / 1000;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the gateway did not answer a heartbeat within 1 s for 120 s after the registration burst`);
}

/** Registrations and heartbeats per second through the gateway's HTTP API, under wrk. */
async function measureWrites(ctx: BenchContext, base: URL): Promise<void> {
  await ensureWrk(ctx.log, ctx.signal);
  const token = await benchToken();
  const { durationSec, repeats, connections, warmupSec } = ctx.settings;
  const paths = await heartbeatPaths(base, token);
  let round = 0;
  const scripts = {
    registrations: () => REGISTER_LUA.replace("%TOKEN%", token).replace("%RUN%", `r${++round}`),
    heartbeats: () => HEARTBEAT_LUA.replace("%TOKEN%", token).replace("%PATHS%", paths.map((p) => JSON.stringify(p)).join(", ")),
  };
  for (const [label, figure] of [
    ["registrations", "registry.register"],
    ["heartbeats", "registry.heartbeat"],
  ] as const) {
    const caughtUp = await settle(base, token, paths[0] ?? "", ctx.signal);
    if (caughtUp > 1) ctx.log(`registry: the gateway answered heartbeats promptly again after ${caughtUp.toFixed(1)} s`);
    if (warmupSec > 0) await runWrkScript(ctx, base, scripts[label](), warmupSec);
    const runs: WrkResult[] = [];
    for (let i = 1; i <= repeats; i++) {
      const r = await runWrkScript(ctx, base, scripts[label](), durationSec);
      runs.push(r);
      const sock = r.socketErrors;
      ctx.log(
        `registry ${label} ${i}/${repeats} … ${Math.round(r.requestsPerSec).toLocaleString("en-US")} ops/s, ` +
          `p50 ${fmt(r.latencyMs.p50 ?? Number.NaN)} ms, p99 ${fmt(r.latencyMs.p99 ?? Number.NaN)} ms` +
          (sock.connect + sock.read + sock.write + sock.timeout > 0 ? ` (socket errors: ${JSON.stringify(sock)})` : ""),
      );
    }
    const rate = runs.map((r) => roundTo(r.requestsPerSec, 1));
    const p50 = runs.map((r) => roundTo(r.latencyMs.p50 ?? Number.NaN, 3));
    const what =
      `${label} through the gateway's HTTP API under wrk (${connections} connections, admin token, no rate-limit policy, ` +
      `write-through to Postgres on)`;
    recordFigure({ name: `${figure}.ops`, unit: "ops/s", median: median(rate), description: what, samples: rate });
    recordFigure({
      name: `${figure}.p50`,
      unit: "ms",
      median: roundTo(median(p50), 3),
      p99: roundTo(median(runs.map((r) => r.latencyMs.p99 ?? Number.NaN)), 3),
      description: `${what}: latency per request`,
      samples: p50,
    });
  }
}

export default defineBench({
  name: "registry",
  description: "service discovery from the isolate cache and from the ServiceRegistry DO; registrations and heartbeats per second",
  async run(ctx) {
    const at = (...p: string[]) => resolve(ctx.root, ...p);
    const gatewayConfig = at("wrangler.toml");
    const gatewayBasics = readWranglerBasics(gatewayConfig);
    const classes = {
      SERVICE_REGISTRY: { className: "ServiceRegistry", useSQLite: true },
      SERVICE_DIRECTORY: { className: "ServiceDirectory", useSQLite: true },
    };
    const gateway: BenchWorker = {
      ...bundledWorker(at("dist/gateway/index.js"), gatewayConfig, {
        ...stackBindings(ctx.stack),
        JWT_SECRET: BENCH_JWT_SECRET,
        RATE_LIMIT_POLICIES: "[]",
      }),
      durableObjects: { ...classes, RATE_LIMITER: { className: "RateLimiter", useSQLite: true } },
    };
    const bench = await benchOnlyWorker("bench-registry", at("bench/workers/registry-entry.js"), gatewayConfig, {
      // The classes as deployed, from the gateway's bundle, not copies built for the bench.
      durableObjects: {
        SERVICE_REGISTRY: { ...classes.SERVICE_REGISTRY, scriptName: gatewayBasics.name },
        SERVICE_DIRECTORY: { ...classes.SERVICE_DIRECTORY, scriptName: gatewayBasics.name },
      },
    });
    const discovery = await withWorkers({ discovery: [bench, gateway] }, ctx.log, (urls) => measureDiscovery(ctx, urls.discovery));
    ctx.log(
      `registry: cached discovery p99 ${Math.round(discovery.cachedP99Ns)} ns (target < 100,000 ns); ` +
        `uncached lookup p50 ${fmt(discovery.uncachedP50Ms)} ms (target < 2 ms; the seed promised < 5 ms)`,
    );
    await withWorkers({ gateway: [gateway] }, ctx.log, (urls) => measureWrites(ctx, urls.gateway));
  },
});
