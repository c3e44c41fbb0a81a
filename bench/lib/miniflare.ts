/**
 * Serving worker bundles with Miniflare directly on 127.0.0.1 (not through `wrangler dev`'s proxy, which
 * costs about 4× in throughput), and bundling small bench-only workers with esbuild.
 */
import { chmodSync, closeSync, existsSync, fstatSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Readable } from "node:stream";
import { workerBindings, type LocalStack } from "@foundation/local-stack";
import { build } from "esbuild";
import { Miniflare } from "miniflare";
import { childPids } from "./process-cpu.ts";
import { parseWranglerBasics, type WranglerBasics } from "./wrangler-config.ts";

/**
 * The Miniflare worker options the benches use. Miniflare's own `WorkerOptions` type is built from zod 3
 * types and degrades to `any` next to this repository's zod 4, so the subset is spelled out here.
 */
export interface BenchWorker {
  name: string;
  modules: true;
  /** An ES module file, e.g. `dist/example/index.js`… */
  scriptPath?: string;
  /** …or the module's source. */
  script?: string;
  compatibilityDate: string;
  compatibilityFlags: string[];
  bindings?: Record<string, string>;
  /** Binding name → name of another worker served alongside, or one of its named entry points (JS RPC). */
  serviceBindings?: Record<string, string | { name: string; entrypoint: string }>;
  /** Binding name → Durable Object class, in this worker or (`scriptName`) in another one served alongside. */
  durableObjects?: Record<string, BenchDurableObject>;
}

/** A Durable Object binding (Miniflare keeps the objects' storage in memory). */
export interface BenchDurableObject {
  className: string;
  /** The worker that exports the class, when it is not this one. */
  scriptName?: string;
  /** SQLite-backed storage (`new_sqlite_classes`), which `ctx.storage.kv` needs. */
  useSQLite?: boolean;
}

/** Options of {@link serveWorkers}. */
export interface ServeOptions {
  /** Opens workerd's V8 inspector on this port (0: any free one), for CPU profiles; off by default. */
  inspectorPort?: number;
}

/** Workers being served; `url` is the origin of the first worker, e.g. `http://127.0.0.1:41234/`. */
export interface ServedWorkers {
  url: URL;
  /** The last lines the workers wrote (stdout and stderr), for error messages. */
  recentOutput(): string;
  /** The workerd process serving them (for its CPU time), when it could be told apart from others this process started. */
  pid?: number;
  /** workerd's inspector (`ws://127.0.0.1:PORT`), when started with `inspectorPort`. */
  inspectorUrl?: URL;
  /** Fetches from one of the served workers by name, also one that does not answer on the socket. */
  fetchWorker(name: string, url: string, init?: RequestInit): Promise<Response>;
  /** Stops workerd; safe to call more than once. */
  dispose(): Promise<void>;
}

/**
 * The workerd process serving the group `label`, for its CPU time; throws when it could not be told apart.
 * @example runWrk(...); cpuSeconds(servedPid(served, "hello-world"))
 */
export function servedPid(served: Readonly<Record<string, ServedWorkers>>, label: string): number {
  const pid = served[label]?.pid;
  if (pid === undefined) throw new Error(`cannot tell the workerd process of ${label} apart from the others this bench started`);
  return pid;
}

/** Reads `name`, compatibility date and flags of a wrangler config. */
export function readWranglerBasics(configPath: string): WranglerBasics {
  return parseWranglerBasics(readFileSync(configPath, "utf8"), configPath);
}

/**
 * The bindings every Foundation worker needs, pointing at the local stack.
 * @example { ...stackBindings(ctx.stack), JWT_SECRET: "bench" }
 */
export function stackBindings(stack: LocalStack): Record<string, string> {
  return {
    ENVIRONMENT: "bench",
    ...workerBindings(stack),
  };
}

/** The bindings that reach Redis through the stack's local Upstash endpoint. */
export function upstashBindings(stack: LocalStack): Record<string, string> {
  return { UPSTASH_REDIS_REST_URL: stack.upstash.url, UPSTASH_REDIS_REST_TOKEN: stack.upstash.token };
}

/**
 * Worker options for a bundle built by `npm run build` (`dist/<name>/index.js`), with the name and
 * compatibility settings of its wrangler config.
 * @example bundledWorker("dist/example/index.js", "workers/example/wrangler.toml", stackBindings(stack))
 */
export function bundledWorker(
  scriptPath: string,
  configPath: string,
  bindings: Record<string, string>,
  serviceBindings?: Record<string, string>,
): BenchWorker {
  if (!existsSync(scriptPath)) throw new Error(`${scriptPath} does not exist; run \`npm run build\` first (\`npm run bench\` does)`);
  const basics = readWranglerBasics(configPath);
  return {
    name: basics.name,
    modules: true,
    scriptPath,
    compatibilityDate: basics.compatibilityDate,
    compatibilityFlags: basics.compatibilityFlags,
    bindings,
    ...(serviceBindings ? { serviceBindings } : {}),
  };
}

/**
 * A bench-only worker: `entry` bundled by {@link bundleWorker}, with the compatibility settings of the wrangler
 * config at `configPath`, plus its bindings and Durable Object bindings.
 * @example await benchOnlyWorker("bench-hello", "bench/workers/hello.ts", "workers/example/wrangler.toml")
 */
export async function benchOnlyWorker(
  name: string,
  entry: string,
  configPath: string,
  extra: Pick<BenchWorker, "bindings" | "durableObjects"> = {},
): Promise<BenchWorker> {
  const basics = readWranglerBasics(configPath);
  return {
    name,
    modules: true,
    script: await bundleWorker(entry),
    compatibilityDate: basics.compatibilityDate,
    compatibilityFlags: basics.compatibilityFlags,
    ...extra,
  };
}

/**
 * Bundles a bench-only worker (TypeScript, npm imports) into one ES module, in memory.
 * @example const script = await bundleWorker("bench/workers/hello.ts");
 */
export async function bundleWorker(entry: string): Promise<string> {
  const out = await build({
    entryPoints: [entry],
    bundle: true,
    format: "esm",
    platform: "neutral",
    target: "es2022",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    // The runtime's own modules (`cloudflare:workers` for Durable Object classes) are workerd's to provide.
    external: ["cloudflare:*"],
    write: false,
    logLevel: "silent",
  });
  const file = out.outputFiles[0];
  if (!file) throw new Error(`esbuild produced no output for ${entry}`);
  return file.text;
}

/**
 * Keeps the last `max` lines of a stream and discards the rest. The example service logs a JSON line per
 * request, thousands a second under load, so only a raw byte window is kept and split when asked for.
 */
function tailOf(stream: Readable, max: number): () => string[] {
  const size = 16_384;
  let window = "";
  stream.setEncoding("utf8");
  stream.on("data", (chunk: string) => {
    window = (window + chunk).slice(-size);
  });
  return () => {
    const lines = window.trimEnd().split("\n");
    if (window.length >= size) lines.shift(); // a full window starts mid-line
    return lines.filter(Boolean).slice(-max);
  };
}

/** The last `max` lines of the file at `path` (its last 16 KiB), for error messages. */
function fileTail(path: string, max: number): string[] {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return [];
  }
  try {
    const size = fstatSync(fd).size;
    const buffer = Buffer.alloc(Math.min(size, 16_384));
    readSync(fd, buffer, 0, buffer.length, size - buffer.length);
    const lines = buffer.toString("utf8").trimEnd().split("\n");
    if (buffer.length < size) lines.shift(); // the window starts mid-line
    return lines.filter(Boolean).slice(-max);
  } finally {
    closeSync(fd);
  }
}

/** The env variable the wrapper reads: the file that the workerd it starts appends its stdout to. */
const STDOUT_FILE = "FOUNDATION_BENCH_WORKERD_STDOUT";
let stdoutFolder: string | undefined;
let stdoutFiles = 0;
/** Startups one at a time: the file is passed to Miniflare's spawn through this process's environment. */
let starting: Promise<unknown> = Promise.resolve();

/**
 * A workerd command for Miniflare (`MINIFLARE_WORKERD_PATH`) whose stdout, the workers' log lines, is appended to a
 * file instead of sent to this process, and a new file for it. Through Miniflare's socket pair each `console.log` is a
 * `write(2)` that wakes a Node reader: 55–65 µs of workerd's CPU per line on this 2-core machine against about 5 µs
 * to a file, and a cost a deployed worker never has (Cloudflare collects a worker's console in its own process). A
 * file keeps the write, without the wake-up, so CPU per request counts the log line as formatted and written.
 */
function stdoutToFile(): { command: string; file: string } {
  if (!stdoutFolder) {
    const folder = mkdtempSync(join(tmpdir(), "foundation-bench-"));
    stdoutFolder = folder;
    process.once("exit", () => rmSync(folder, { recursive: true, force: true }));
    // The workerd Miniflare would start: the one `MINIFLARE_WORKERD_PATH` names, else Miniflare's own dependency.
    const binary =
      process.env.MINIFLARE_WORKERD_PATH ??
      (createRequire(createRequire(import.meta.url).resolve("miniflare"))("workerd") as { default: string }).default;
    writeFileSync(join(folder, "workerd"), `#!/bin/sh\nexec '${binary.replaceAll("'", "'\\''")}' "$@" >>"$${STDOUT_FILE}"\n`);
    chmodSync(join(folder, "workerd"), 0o755);
  }
  return { command: join(stdoutFolder, "workerd"), file: join(stdoutFolder, `stdout-${++stdoutFiles}.log`) };
}

/**
 * Starts workerd with `workers` (the first one answers on the socket; the others are reachable through
 * service bindings) on a free 127.0.0.1 port. Worker output is kept out of the progress lines: stdout goes to a
 * file (see {@link stdoutToFile}), stderr is kept in memory.
 * @example const served = await serveWorkers([helloWorker]); try { ... } finally { await served.dispose(); }
 */
export function serveWorkers(workers: BenchWorker[], options: ServeOptions = {}): Promise<ServedWorkers> {
  const started = starting.then(() => startWorkers(workers, options));
  starting = started.catch(() => undefined);
  return started;
}

async function startWorkers(workers: BenchWorker[], options: ServeOptions): Promise<ServedWorkers> {
  const running = new Set(childPids("workerd"));
  const stdout = stdoutToFile();
  // Read by Miniflare's spawn (and the wrapper) during startup only, then put back as they were.
  const previous = { MINIFLARE_WORKERD_PATH: process.env.MINIFLARE_WORKERD_PATH, [STDOUT_FILE]: process.env[STDOUT_FILE] };
  Object.assign(process.env, { MINIFLARE_WORKERD_PATH: stdout.command, [STDOUT_FILE]: stdout.file });
  const restoreEnvironment = () => {
    for (const [name, value] of Object.entries(previous)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
  let stderrTail: () => string[] = () => [];
  const mf = new Miniflare({
    host: "127.0.0.1",
    port: 0,
    cf: false,
    ...(options.inspectorPort === undefined ? {} : { inspectorPort: options.inspectorPort }),
    workers,
    handleRuntimeStdio(_stdout: Readable, stderr: Readable) {
      stderrTail = tailOf(stderr, 20);
    },
  });
  const recentOutput = () => [...fileTail(stdout.file, 20), ...stderrTail()].join("\n");
  let disposing: Promise<void> | undefined;
  const dispose = () => (disposing ??= mf.dispose().finally(() => rmSync(stdout.file, { force: true })));
  try {
    const url = await mf.ready.finally(restoreEnvironment);
    const started = childPids("workerd").filter((p) => !running.has(p));
    const inspectorUrl = options.inspectorPort === undefined ? undefined : await mf.getInspectorURL();
    const fetchWorker = async (name: string, target: string, init?: RequestInit) => {
      // Miniflare's own types degrade next to zod 4 (see BenchWorker), so the fetcher is typed here.
      const worker = (await mf.getWorker(name)) as unknown as { fetch(url: string, init?: RequestInit): Promise<Response> };
      return worker.fetch(target, init);
    };
    const pid = started.length === 1 ? started[0] : undefined;
    return { url, ...(pid === undefined ? {} : { pid }), ...(inspectorUrl ? { inspectorUrl } : {}), recentOutput, fetchWorker, dispose };
  } catch (err) {
    const output = recentOutput();
    await dispose().catch(() => undefined);
    const names = workers.map((w) => w.name).join(" + ");
    throw new Error(`Miniflare could not start ${names}: ${(err as Error).message}${output ? `\n${output}` : ""}`, { cause: err });
  }
}

/**
 * Serves several groups of workers at once (each group its own workerd on its own port) for the duration
 * of `fn`, and always stops every one afterwards, also when `fn` or a later start throws; a failure
 * carries the workers' last output lines.
 * @example await withWorkers({ hello: [hello], gateway: [gateway, example] }, log, async (urls) => { ... urls.gateway ... });
 */
export async function withWorkers<K extends string, T>(
  groups: Record<K, BenchWorker[]>,
  log: (line: string) => void,
  fn: (urls: Record<K, URL>, served: Record<K, ServedWorkers>) => Promise<T>,
  options: ServeOptions = {},
): Promise<T> {
  const served: [K, ServedWorkers][] = [];
  try {
    for (const [label, workers] of Object.entries(groups) as [K, BenchWorker[]][]) {
      const s = await serveWorkers(workers, options);
      served.push([label, s]);
      log(`serving ${label} (${workers.map((w) => w.name).join(" + ")}) at ${s.url.href}`);
    }
    return await fn(
      Object.fromEntries(served.map(([label, s]) => [label, s.url])) as Record<K, URL>,
      Object.fromEntries(served) as Record<K, ServedWorkers>,
    );
  } catch (err) {
    for (const [label, s] of served) {
      const output = s.recentOutput();
      if (output) log(`${label}: last worker output:\n${output}`);
    }
    throw err;
  } finally {
    const stopped = await Promise.allSettled(served.map(([, s]) => s.dispose()));
    stopped.forEach((r, i) => {
      if (r.status === "rejected") log(`stopping ${served[i]?.[0] ?? "workers"} failed: ${(r.reason as Error).message}`);
    });
    if (served.length > 0) log(`stopped ${served.map(([label]) => label).join(", ")}`);
  }
}
