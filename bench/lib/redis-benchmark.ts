/** redis-benchmark: one run with a custom command line, parsed from its CSV output. */
import { runTool } from "./exec.ts";
import { parseRedisBenchmarkCsv, type RedisBenchmarkRow } from "./redis-benchmark-output.ts";

/** Options of {@link runRedisBenchmark}. */
export interface RedisBenchmarkOptions {
  port: number;
  /** Total commands sent (`-n`). */
  requests: number;
  /** Parallel connections (`-c`). */
  clients: number;
  /** Commands per round trip (`-P`); 1 = unpipelined. */
  pipeline: number;
  /** The command line to repeat, e.g. `["XADD", "bench:stream", "*", "f1", "v1"]` (`-t` knows no XADD). */
  command: readonly string[];
  signal?: AbortSignal;
}

/** The package that ships redis-benchmark on Debian. */
export const REDIS_BENCHMARK_INSTALL = "apt-get install -y redis-tools";

/**
 * Runs `redis-benchmark --csv` against 127.0.0.1 and returns its single row; throws when the command
 * failed on the server (redis-benchmark then prints the error and exits 0 without a row).
 * @example const row = await runRedisBenchmark({ port, requests: 100_000, clients: 50, pipeline: 1, command: ["PING"] });
 */
export async function runRedisBenchmark(opts: RedisBenchmarkOptions): Promise<RedisBenchmarkRow> {
  const args = ["-h", "127.0.0.1", "-p", String(opts.port), "-n", String(opts.requests), "-c", String(opts.clients)];
  if (opts.pipeline > 1) args.push("-P", String(opts.pipeline));
  args.push("--csv", ...opts.command);
  let out: { stdout: string; stderr: string };
  try {
    out = await runTool("redis-benchmark", args, { signal: opts.signal, timeoutMs: 300_000 });
  } catch (err) {
    const missing = (err as Error).message.includes("not installed") ? ` (install it with: sudo ${REDIS_BENCHMARK_INSTALL})` : "";
    throw new Error(`${(err as Error).message}${missing}`, { cause: err });
  }
  const row = parseRedisBenchmarkCsv(out.stdout)[0];
  if (!row || row.rps <= 0) {
    throw new Error(`redis-benchmark ${args.join(" ")} reported no result:\n${`${out.stdout}\n${out.stderr}`.trim().slice(0, 2000)}`);
  }
  return row;
}
