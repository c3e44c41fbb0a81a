/** wrk: making sure it is installed, running it, and turning repeated runs into figures. */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { BenchContext } from "./context.ts";
import { findOnPath, runTool } from "./exec.ts";
import { cpuSeconds } from "./process-cpu.ts";
import { recordFigure } from "./results.ts";
import { median, roundTo } from "./stats.ts";
import { parseWrkOutput, type WrkResult } from "./wrk-output.ts";

/** The command that installs wrk on Debian/Ubuntu. */
export const WRK_INSTALL = "apt-get install -y wrk";

/**
 * Finds wrk; when it is missing and we are root on Debian, installs it with apt-get (running `apt-get update`
 * first if the package is unknown), otherwise throws with the command to run.
 */
export async function ensureWrk(log: (line: string) => void, signal?: AbortSignal): Promise<string> {
  const found = findOnPath("wrk");
  if (found) return found;
  const isRoot = process.getuid?.() === 0;
  if (!isRoot || !existsSync("/etc/debian_version") || !findOnPath("apt-get")) {
    throw new Error(
      `wrk is not installed; install it with: sudo ${WRK_INSTALL} (Debian/Ubuntu), or build it from https://github.com/wg/wrk`,
    );
  }
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  log(`wrk is not installed; running: ${WRK_INSTALL}`);
  try {
    await runTool("apt-get", ["install", "-y", "--no-install-recommends", "wrk"], { signal, env, timeoutMs: 300_000 });
  } catch {
    log("apt-get install failed; running: apt-get update, then again");
    await runTool("apt-get", ["update"], { signal, env, timeoutMs: 300_000 });
    await runTool("apt-get", ["install", "-y", "--no-install-recommends", "wrk"], { signal, env, timeoutMs: 300_000 });
  }
  const installed = findOnPath("wrk");
  if (!installed) throw new Error(`\`${WRK_INSTALL}\` succeeded but wrk is still not on PATH`);
  return installed;
}

/** Options of {@link runWrk}. */
export interface WrkOptions {
  url: string;
  threads: number;
  connections: number;
  /** Whole seconds (wrk takes no fractions). */
  durationSec: number;
  /** Request headers, e.g. `{ authorization: "Bearer …" }`. */
  headers?: Record<string, string>;
  /** A JSON body: the requests are POSTs of it (with `content-type: application/json`) instead of GETs. */
  body?: string;
  /** A Lua script that shapes the requests (method, headers, body), instead of `body`. */
  script?: string;
  signal?: AbortSignal;
}

/** The Lua script of a JSON POST: wrk sends a body only from a script. */
const jsonPostScript = (body: string) =>
  ['wrk.method = "POST"', 'wrk.headers["content-type"] = "application/json"', `wrk.body = [==[${body}]==]`].join("\n");

/**
 * One `wrk --latency` run; throws when any response was not 2xx/3xx, so an error page is never measured as speed.
 * @example const r = await runWrk({ url, threads: 2, connections: 50, durationSec: 10 });
 */
export async function runWrk(opts: WrkOptions): Promise<WrkResult> {
  const script = opts.script ?? (opts.body === undefined ? undefined : jsonPostScript(opts.body));
  const dir = script === undefined ? undefined : mkdtempSync(join(tmpdir(), "bench-wrk-"));
  const file = dir === undefined ? undefined : join(dir, "script.lua");
  if (file !== undefined) writeFileSync(file, script ?? "");
  const args = [
    "-t",
    String(opts.threads),
    "-c",
    String(opts.connections),
    "-d",
    `${opts.durationSec}s`,
    "--timeout",
    "10s",
    "--latency",
    ...Object.entries(opts.headers ?? {}).flatMap(([name, value]) => ["-H", `${name}: ${value}`]),
    ...(file === undefined ? [] : ["-s", file]),
    opts.url,
  ];
  let stdout: string;
  try {
    ({ stdout } = await runTool("wrk", args, { signal: opts.signal, timeoutMs: (opts.durationSec + 30) * 1000 }));
  } finally {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  }
  const result = parseWrkOutput(stdout);
  if (result.requests === 0) throw new Error(`wrk completed no request against ${opts.url}:\n${stdout}`);
  if (result.non2xx3xx > 0) {
    throw new Error(`${result.non2xx3xx} of ${result.requests} responses from ${opts.url} were not 2xx/3xx:\n${stdout}`);
  }
  return result;
}

/** An HTTP endpoint to load, and the figure names it produces: `<figure>.rps` and `<figure>.p50`. */
export interface HttpTarget {
  /** Progress label, e.g. `hello-world`. */
  label: string;
  /** Figure name prefix, e.g. `example.direct`. */
  figure: string;
  url: string;
  /** Request headers sent with every request (a bearer token). */
  headers?: Record<string, string>;
  /** A JSON body to POST with every request, instead of a GET. */
  body?: string;
  /** What is measured, for the results table. */
  description: string;
  /** Figure prefix of the baseline, e.g. `hello`: ratios against `hello.rps` and `hello.p50`. */
  baseline?: string;
  /** The workerd process that serves the target: its CPU time per request served is recorded as `<figure>.cpu`. */
  pid?: number;
}

/** Medians of an HTTP measurement (latencies in ms). */
export interface HttpMeasurement {
  rps: number;
  p50: number;
  p99: number;
  /** CPU time (user + system) of the target's workerd per request served, µs; with the target's `pid` only. */
  cpuUs?: number;
  /** CPU per request of each run, in round order: round _i_ of every target ran back to back, so ratios can be paired. */
  cpuRuns?: number[];
}

/**
 * `f` of two targets' CPU per request, round by round (round _i_ of every target ran back to back, so a slow spell of
 * the machine hits both sides alike), and its median over the rounds; undefined without CPU figures.
 * @example pairedCpu(m.get("proxy"), m.get("direct"), (x, y) => x / y)?.median
 */
export function pairedCpu(a: HttpMeasurement | undefined, b: HttpMeasurement | undefined, f: (x: number, y: number) => number) {
  const xs = a?.cpuRuns ?? [];
  const ys = b?.cpuRuns ?? [];
  const values = xs.flatMap((x, i) => (ys[i] === undefined ? [] : [f(x, ys[i])]));
  return values.length === 0 ? undefined : { median: median(values), samples: values.map((v) => roundTo(v, 3)) };
}

const fmt = (n: number, decimals = 0) => n.toLocaleString("en-US", { maximumFractionDigits: decimals, minimumFractionDigits: decimals });

/** Records `<figure>.rps`, `<figure>.p50` (with p99) and `<figure>.cpu` from one target's runs and returns the medians. */
function recordHttpFigures(target: HttpTarget, runs: readonly WrkResult[], cpu: readonly number[]): HttpMeasurement {
  const rpsSamples = runs.map((r) => roundTo(r.requestsPerSec, 1));
  const p50Samples = runs.map((r) => roundTo(r.latencyMs.p50 ?? Number.NaN, 3));
  const p99Samples = runs.map((r) => r.latencyMs.p99 ?? Number.NaN);
  const m: HttpMeasurement = { rps: median(rpsSamples), p50: median(p50Samples), p99: median(p99Samples) };
  recordFigure({
    name: `${target.figure}.rps`,
    unit: "req/s",
    median: roundTo(m.rps, 1),
    ...(target.baseline ? { baseline: `${target.baseline}.rps` } : {}),
    description: `${target.description}: requests per second`,
    samples: rpsSamples,
  });
  recordFigure({
    name: `${target.figure}.p50`,
    unit: "ms",
    median: roundTo(m.p50, 3),
    p99: roundTo(m.p99, 3),
    ...(target.baseline ? { baseline: `${target.baseline}.p50` } : {}),
    description: `${target.description}: median latency`,
    samples: p50Samples,
  });
  if (cpu.length > 0) {
    m.cpuUs = median(cpu);
    m.cpuRuns = [...cpu];
    recordFigure({
      name: `${target.figure}.cpu`,
      unit: "µs/request",
      median: roundTo(m.cpuUs, 1),
      ...(target.baseline ? { baseline: `${target.baseline}.cpu` } : {}),
      description: `${target.description}: CPU time of its workerd process (user + system, all threads, from /proc) per request served under wrk`,
      samples: cpu.map((x) => roundTo(x, 1)),
    });
  }
  return m;
}

/**
 * Warms every target up, then runs wrk `settings.repeats` rounds over all targets in turn, and records
 * `<figure>.rps` (req/s) and `<figure>.p50` (ms, with p99) as medians over the rounds. Interleaving the
 * targets means a slow spell on a shared machine hits a figure and its baseline alike, which keeps the
 * ratios steadier than measuring one target after the other.
 * @example await measureHttp(ctx, [{ label: "hello-world", figure: "hello", url, description: "Hono hello world" }]);
 */
export async function measureHttp(ctx: BenchContext, targets: readonly HttpTarget[]): Promise<Map<string, HttpMeasurement>> {
  const { threads, connections, durationSec, warmupSec, repeats } = ctx.settings;
  const load = (target: HttpTarget, seconds: number) =>
    runWrk({ url: target.url, headers: target.headers, body: target.body, threads, connections, durationSec: seconds, signal: ctx.signal });
  if (warmupSec > 0) {
    for (const target of targets) {
      ctx.log(`${target.label} warm-up ${warmupSec} s …`);
      await load(target, warmupSec);
    }
  }
  const runs = new Map<HttpTarget, WrkResult[]>(targets.map((t) => [t, []]));
  const cpu = new Map<HttpTarget, number[]>(targets.map((t) => [t, []]));
  for (let i = 1; i <= repeats; i++) {
    for (const target of targets) {
      ctx.signal.throwIfAborted();
      const cpuBefore = target.pid === undefined ? 0 : cpuSeconds(target.pid);
      const r = await load(target, durationSec);
      const cpuUs = target.pid === undefined || r.requests === 0 ? undefined : ((cpuSeconds(target.pid) - cpuBefore) / r.requests) * 1e6;
      if (cpuUs !== undefined) cpu.get(target)?.push(cpuUs);
      const { p50, p99 } = r.latencyMs;
      if (p50 === undefined || p99 === undefined) throw new Error(`wrk printed no latency distribution for ${target.url}`);
      runs.get(target)?.push(r);
      const sock = r.socketErrors;
      const errors = sock.connect + sock.read + sock.write + sock.timeout;
      ctx.log(
        `${target.label} ${i}/${repeats} … ${fmt(r.requestsPerSec)} req/s, p50 ${fmt(p50, 2)} ms, p99 ${fmt(p99, 2)} ms` +
          (cpuUs === undefined ? "" : `, ${fmt(cpuUs)} µs CPU/request`) +
          (errors > 0 ? ` (socket errors: connect ${sock.connect}, read ${sock.read}, write ${sock.write}, timeout ${sock.timeout})` : ""),
      );
    }
  }
  const results = new Map<string, HttpMeasurement>();
  for (const target of targets) {
    const m = recordHttpFigures(target, runs.get(target) ?? [], cpu.get(target) ?? []);
    results.set(target.figure, m);
    ctx.log(
      `${target.label} median … ${fmt(m.rps)} req/s, p50 ${fmt(m.p50, 2)} ms, p99 ${fmt(m.p99, 2)} ms` +
        (m.cpuUs === undefined ? "" : `, ${fmt(m.cpuUs)} µs CPU/request`),
    );
  }
  return results;
}

/**
 * Fetches `url` once and checks the status and the JSON body before any load is put on it, so a broken
 * route fails with its own response instead of a wall of non-2xx counts.
 * @example await checkEndpoint(url, (body) => (body as { hello?: string }).hello === "world");
 */
export async function checkEndpoint(
  url: string,
  accept: (body: unknown) => boolean,
  signal?: AbortSignal,
  headers?: Record<string, string>,
): Promise<void> {
  const timeout = AbortSignal.timeout(15_000);
  const res = await fetch(url, { headers, signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (res.status !== 200 || !accept(body)) {
    throw new Error(`GET ${url} answered ${res.status} with an unexpected body: ${text.slice(0, 500)}`);
  }
}

/**
 * One wrk run of a Lua `script` (requests with their own method, headers and body) against `base`, with
 * the run's threads and connections; throws on any answer that is not 2xx/3xx.
 */
export async function runWrkScript(ctx: BenchContext, base: URL, script: string, seconds: number): Promise<WrkResult> {
  const { threads, connections } = ctx.settings;
  return runWrk({ url: base.href, threads, connections, durationSec: seconds, script, signal: ctx.signal });
}
