/**
 * What the jobs bench runs on both sides (Foundation's job queues and BullMQ), and what one run measures: the same
 * jobs, concurrency and delays for both, so their figures compare.
 */

/** No-op jobs per throughput run, added in batches of {@link BATCH}. */
export const JOBS = 20_000;
/** Jobs per add: Foundation's most per request, BullMQ's `addBulk` of the same size. */
export const BATCH = 1_000;
/** Jobs of a queue running at once, on both sides. */
export const CONCURRENCY = 50;
/** Delayed jobs per delayed run, added at once. */
export const DELAYED = 1_000;
/** The delayed jobs' delays are spread evenly over this many ms. */
export const SPREAD_MS = 10_000;
/** Jobs run on each side before the measured runs (when `BENCH_WARMUP` is not 0). */
export const WARMUP_JOBS = 2_000;

/** The delay of each delayed job: 10, 20, … 10,000 ms, so every one is delayed and their due times spread evenly. */
export function delays(): number[] {
  return Array.from({ length: DELAYED }, (_, i) => Math.round(((i + 1) * SPREAD_MS) / DELAYED));
}

/** What one throughput run measured. */
export interface ThroughputRun {
  /** Jobs completed per second, from the first add to the last completion. */
  jobsPerSec: number;
  /** Jobs added per second over the adds (which overlap the processing). */
  addedPerSec: number;
  /** Redis commands per job the clients sent, what Upstash bills (a script is one): adds and processing. */
  clientCommandsPerJob: number;
  /** Commands per job redis-server executed (`INFO commandstats`, those inside Lua scripts included). */
  serverCommandsPerJob: number;
}

/** What one delayed run measured: how late each job started after its due time, in ms. */
export interface DelayedRun {
  p50: number;
  p99: number;
  max: number;
  /** Jobs that started before their due time. */
  early: number;
}

/**
 * The `p`-th percentile (0–100) of `values` by nearest rank.
 * @example percentile([1, 2, 3, 4], 50) // 2
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new Error("percentile of no values");
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length))) - 1] as number;
}

/** A delayed run from the firing errors (started − due, ms) of its jobs; throws unless every job started. */
export function delayedRun(errors: readonly number[], side: string): DelayedRun {
  if (errors.length !== DELAYED) throw new Error(`${side}: ${errors.length} of ${DELAYED} delayed jobs started`);
  return { p50: percentile(errors, 50), p99: percentile(errors, 99), max: Math.max(...errors), early: errors.filter((e) => e < 0).length };
}

/** Resolves after `ms`, or rejects when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", stop);
      resolve();
    }, ms);
    const stop = () => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    signal?.addEventListener("abort", stop, { once: true });
  });
}
