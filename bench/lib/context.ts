/** What `bench/run.ts` hands every bench module. */
import type { LocalStack } from "@foundation/local-stack";
import type { BenchSettings } from "./settings.ts";

/** Shared by every bench module of one run. */
export interface BenchContext {
  /** Repository root. */
  root: string;
  settings: BenchSettings;
  /** The local stack (real redis-server and PostgreSQL, Upstash and Neon endpoints), started once per run. */
  stack: LocalStack;
  /** Aborted on SIGINT/SIGTERM: runners kill their tools and throw, so every `finally` stops its servers. */
  signal: AbortSignal;
  /** Progress line on stdout, already prefixed with `bench: `. */
  log: (line: string) => void;
}

/** A bench module: the default export of `bench/<name>.bench.ts`; it records figures with `recordFigure`. */
export interface Bench {
  /** Selected with `BENCH_ONLY=<name>`; also the file name without `.bench.ts`. */
  name: string;
  /** One line on what it measures. */
  description: string;
  run(ctx: BenchContext): Promise<void>;
}

/**
 * Declares a bench module (typed identity, so the module's shape is checked where it is written).
 * @example export default defineBench({ name: "redis", description: "XADD ceiling", run: async (ctx) => {...} });
 */
export function defineBench(bench: Bench): Bench {
  return bench;
}
