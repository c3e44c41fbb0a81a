/** Pure parsing of the benchmark knobs from the environment. */

/** How long and how hard every benchmark runs; one set for the whole `npm run bench`. */
export interface BenchSettings {
  /** Seconds per measured wrk run (`BENCH_DURATION`, default 10). */
  durationSec: number;
  /** Seconds of unmeasured load before the first run against each server (`BENCH_WARMUP`, default 2; 0 skips). */
  warmupSec: number;
  /** Measured runs per figure; figures are their medians (`BENCH_REPEATS`, default 3). */
  repeats: number;
  /** wrk threads (`BENCH_THREADS`, default 2). */
  threads: number;
  /** Concurrent connections for wrk, clients for redis-benchmark (`BENCH_CONNECTIONS`, default 50). */
  connections: number;
  /** Bench modules to run by name (`BENCH_ONLY=baseline,redis`); empty runs all. */
  only: string[];
}

/** The defaults: `npm run bench` takes about 2 minutes on a 2-core machine. */
export const DEFAULT_SETTINGS: BenchSettings = { durationSec: 10, warmupSec: 2, repeats: 3, threads: 2, connections: 50, only: [] };

function integer(env: Record<string, string | undefined>, name: string, fallback: number, min: number, unit = ""): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === "") return fallback;
  const text = unit ? raw.replace(new RegExp(`${unit}$`), "") : raw;
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min) {
    throw new Error(`${name} must be a whole number${unit ? ` of seconds (e.g. 10 or 10s)` : ""} ≥ ${min}, got ${JSON.stringify(raw)}`);
  }
  return value;
}

/**
 * Reads `BENCH_DURATION`, `BENCH_WARMUP`, `BENCH_REPEATS`, `BENCH_THREADS`, `BENCH_CONNECTIONS` and `BENCH_ONLY`;
 * throws a message naming the variable when one is malformed. wrk takes whole seconds only.
 * @example parseSettings({ BENCH_DURATION: "3s" }).durationSec // 3
 */
export function parseSettings(env: Record<string, string | undefined>): BenchSettings {
  const d = DEFAULT_SETTINGS;
  const threads = integer(env, "BENCH_THREADS", d.threads, 1);
  const connections = integer(env, "BENCH_CONNECTIONS", d.connections, 1);
  if (connections < threads) throw new Error(`BENCH_CONNECTIONS (${connections}) must be at least BENCH_THREADS (${threads})`);
  return {
    durationSec: integer(env, "BENCH_DURATION", d.durationSec, 1, "s"),
    warmupSec: integer(env, "BENCH_WARMUP", d.warmupSec, 0, "s"),
    repeats: integer(env, "BENCH_REPEATS", d.repeats, 1),
    threads,
    connections,
    only: (env.BENCH_ONLY ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
  };
}

/** The settings as they are recorded beside the figures. */
export function describeSettings(s: BenchSettings): Record<string, string | number> {
  return { durationSec: s.durationSec, warmupSec: s.warmupSec, repeats: s.repeats, threads: s.threads, connections: s.connections };
}
