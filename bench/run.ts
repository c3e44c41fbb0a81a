/**
 * `npm run bench` (after `npm run build`): starts the local stack once, runs every `bench/*.bench.ts`
 * module in name order, and writes `bench/results/latest.json` and `latest.md`. Every server it starts is
 * stopped again, on failure and on Ctrl-C as well. Knobs: see bench/lib/settings.ts (`BENCH_DURATION`…).
 */
import { readdirSync } from "node:fs";
import { relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { startLocalStack, type LocalStack } from "@foundation/local-stack";
import type { Bench, BenchContext } from "./lib/context.ts";
import { formatValue } from "./lib/report.ts";
import { recordedFigures, writeResults } from "./lib/results.ts";
import { describeSettings, parseSettings } from "./lib/settings.ts";

const BENCH_DIR = import.meta.dirname;
const ROOT = resolve(BENCH_DIR, "..");
const log = (line: string) => console.log(`bench: ${line}`);

async function loadBenches(only: readonly string[]): Promise<Bench[]> {
  const files = readdirSync(BENCH_DIR)
    .filter((f) => f.endsWith(".bench.ts"))
    .sort();
  const benches: Bench[] = [];
  for (const file of files) {
    const mod = (await import(pathToFileURL(resolve(BENCH_DIR, file)).href)) as { default?: Partial<Bench> };
    const b = mod.default;
    if (!b || typeof b.run !== "function" || typeof b.name !== "string") {
      throw new Error(`bench/${file} must \`export default defineBench({ name, description, run })\``);
    }
    benches.push(b as Bench);
  }
  const unknown = only.filter((n) => !benches.some((b) => b.name === n));
  if (unknown.length > 0)
    throw new Error(`BENCH_ONLY names no bench module: ${unknown.join(", ")} (have: ${benches.map((b) => b.name).join(", ")})`);
  return only.length > 0 ? benches.filter((b) => only.includes(b.name)) : benches;
}

async function main(): Promise<number> {
  const started = performance.now();
  const settings = parseSettings(process.env);
  const benches = await loadBenches(settings.only);
  log(
    `wrk ${settings.threads} threads × ${settings.connections} connections, ${settings.repeats} runs of ${settings.durationSec} s ` +
      `after ${settings.warmupSec} s warm-up; modules: ${benches.map((b) => b.name).join(", ")}`,
  );

  const abort = new AbortController();
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.once(sig, () => {
      log(`${sig}: stopping every server …`);
      abort.abort(new Error(`interrupted by ${sig}`));
    });
  }

  let stack: LocalStack | undefined;
  let current = "local stack";
  try {
    stack = await startLocalStack({
      // A data folder of its own, so a bench run never collides with a test run's stack in .local/test.
      root: resolve(BENCH_DIR, "results", "raw"),
      migrationsDir: resolve(ROOT, "migrations"),
      profile: "test",
      log: (line) => log(`stack: ${line}`),
    });
    const ctx: BenchContext = { root: ROOT, settings, stack, signal: abort.signal, log };
    for (const [i, bench] of benches.entries()) {
      abort.signal.throwIfAborted();
      current = bench.name;
      log(`[${i + 1}/${benches.length}] ${bench.name}: ${bench.description}`);
      await bench.run(ctx);
    }
    current = "writing results";
    const { report, jsonPath, mdPath, missing } = writeResults({
      settings: describeSettings(settings),
      keepPrevious: settings.only.length > 0,
    });
    for (const f of report.figures) {
      const extra = [
        f.p99 === undefined ? "" : `p99 ${formatValue(f.p99, f.unit)}`,
        f.ratio === undefined ? "" : `${f.ratio.toFixed(2)}× ${f.baseline}`,
      ];
      log(`  ${f.name.padEnd(28)} ${formatValue(f.median, f.unit).padStart(14)}  ${extra.filter(Boolean).join(", ")}`);
    }
    if (missing.length > 0) log(`warning: baselines not measured in this report: ${missing.join("; ")}`);
    log(`wrote ${relative(ROOT, jsonPath)} and ${relative(ROOT, mdPath)} (${recordedFigures().length} figures measured)`);
    return 0;
  } catch (err) {
    const e = err as Error;
    console.error(`bench: FAILED (${current}): ${abort.signal.aborted ? String((abort.signal.reason as Error).message) : e.message}`);
    // Our own errors say what failed and what to do; a TypeError or the like needs its stack to be found.
    if (!abort.signal.aborted && e.name !== "Error" && e.stack) console.error(e.stack);
    return 1;
  } finally {
    if (stack) {
      try {
        await stack.stop();
      } catch (err) {
        console.error(`bench: stopping the local stack failed: ${(err as Error).message}`);
      }
    }
    log(`done in ${Math.round((performance.now() - started) / 1000)} s`);
  }
}

process.exit(
  await main().catch((err: unknown) => {
    console.error(`bench: FAILED before starting: ${(err as Error).message}`);
    return 1;
  }),
);
