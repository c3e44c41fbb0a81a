import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { which } from "./binaries.ts";
import { LOOPBACK } from "./ports.ts";
import { elapsed, run, sleep, spawnServer, tailFile, terminate, type LogFn } from "./process.ts";

/** What to run when Prometheus is missing (Debian's package ships `prometheus` and `promtool`). */
export const PROMETHEUS_INSTALL_COMMAND = "sudo apt-get install -y --no-install-recommends prometheus";

/** Paths of the Prometheus server and its command-line tool. */
export interface PrometheusBinaries {
  prometheus: string;
  promtool: string;
}

let cached: Promise<PrometheusBinaries> | undefined;

function findPrometheus(): Partial<PrometheusBinaries> {
  return { prometheus: which("prometheus"), promtool: which("promtool") };
}

/**
 * What to do about the binaries found: use them, install them (root on Debian), or fail with the command a
 * person has to run; never skip.
 * @example prometheusPlan({}, false) // Error: prometheus and promtool are not installed; run: sudo apt-get …
 */
export function prometheusPlan(found: Partial<PrometheusBinaries>, canInstall: boolean): PrometheusBinaries | "install" | Error {
  if (found.prometheus && found.promtool) return { prometheus: found.prometheus, promtool: found.promtool };
  if (canInstall) return "install";
  return new Error(`prometheus and promtool are not installed; run: ${PROMETHEUS_INSTALL_COMMAND}`);
}

async function resolvePrometheus(log: LogFn): Promise<PrometheusBinaries> {
  const plan = prometheusPlan(findPrometheus(), process.getuid?.() === 0 && existsSync("/etc/debian_version"));
  if (plan instanceof Error) throw plan;
  if (plan !== "install") return plan;
  log("missing prometheus/promtool: installing Debian's prometheus package with apt-get");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const onLine = (l: string) => log(`apt: ${l}`);
  await run("apt-get", ["update"], { env, onLine });
  await run("apt-get", ["install", "-y", "--no-install-recommends", "prometheus"], { env, onLine });
  const after = prometheusPlan(findPrometheus(), false);
  if (after instanceof Error || after === "install")
    throw new Error(`prometheus is still missing after apt-get; run: ${PROMETHEUS_INSTALL_COMMAND}`);
  return after;
}

/**
 * Finds `prometheus` and `promtool`; when they are missing and we are root on Debian, installs the
 * `prometheus` package with apt-get (as the local stack does for Redis and PostgreSQL); otherwise throws an
 * Error naming the command to run.
 * @example const { promtool } = await ensurePrometheus(console.log);
 */
export function ensurePrometheus(log: LogFn = () => {}): Promise<PrometheusBinaries> {
  cached ??= resolvePrometheus(log).catch((err: unknown) => {
    cached = undefined;
    throw err;
  });
  return cached;
}

/** Exit code and combined output of one promtool run. */
export interface PromtoolResult {
  code: number | null;
  output: string;
}

/**
 * Runs promtool with `args`, writing `input` to its stdin (what `promtool check metrics` reads).
 * @example await promtool(bin, ["check", "rules", "alerts.yml"]);
 */
export function promtool(binary: string, args: string[], input?: string): Promise<PromtoolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ["pipe", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString("utf8")));
    child.stderr.on("data", (d: Buffer) => (output += d.toString("utf8")));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, output }));
    child.stdin.end(input ?? "");
  });
}

/** Options of {@link startPrometheus}. */
export interface PrometheusOptions {
  binary: string;
  /** The prometheus.yml to load. */
  configFile: string;
  /** Folder of the TSDB and the log; created if missing. */
  dataDir: string;
  port: number;
  log?: LogFn;
  /** How long to wait for `/-/ready`; default 30 s. */
  startTimeoutMs?: number;
}

/** A running Prometheus server. */
export interface PrometheusServer {
  /** http://127.0.0.1:P */
  readonly url: string;
  /** Stops the server (SIGTERM, SIGKILL after 5 s). */
  stop(): Promise<void>;
}

async function ready(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
}

async function waitReady(proc: ChildProcess, url: string, logFile: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ready(url))) {
    if (proc.exitCode !== null || proc.signalCode !== null || Date.now() > deadline) {
      await terminate(proc, "SIGKILL", 1000);
      throw new Error(`prometheus did not become ready at ${url}; last lines of ${logFile}:\n${await tailFile(logFile)}`);
    }
    await sleep(100);
  }
}

/**
 * Starts a throwaway Prometheus on a loopback port with `configFile` and waits until it is ready.
 * @example const prom = await startPrometheus({ binary, configFile, dataDir, port: await freePort() });
 */
export async function startPrometheus(opts: PrometheusOptions): Promise<PrometheusServer> {
  mkdirSync(opts.dataDir, { recursive: true });
  const logFile = join(opts.dataDir, "prometheus.log");
  const url = `http://${LOOPBACK}:${opts.port}`;
  const t0 = performance.now();
  const proc = spawnServer({
    command: opts.binary,
    args: [
      `--config.file=${opts.configFile}`,
      `--storage.tsdb.path=${join(opts.dataDir, "tsdb")}`,
      `--web.listen-address=${LOOPBACK}:${opts.port}`,
    ],
    logFile,
    parentDeathSignal: "TERM",
    cwd: opts.dataDir,
  });
  await waitReady(proc, url, logFile, opts.startTimeoutMs ?? 30_000);
  opts.log?.(`prometheus on ${url} ready (${elapsed(t0)})`);
  return { url, stop: () => terminate(proc, "SIGTERM", 5000) };
}
