/**
 * The figures of one `npm run bench`: every bench module records into the same list (merged by name),
 * and the runner writes `bench/results/latest.json` and `latest.md` once at the end.
 */
import { existsSync, readFileSync, renameSync, writeFileSync, mkdirSync } from "node:fs";
import { cpus, release, type, arch } from "node:os";
import { join, resolve } from "node:path";
import { mergeFigures, missingBaselines, renderMarkdown, withRatios, type BenchReport, type Figure, type Machine } from "./report.ts";

/** Where the results are written: `bench/results/`. */
export const RESULTS_DIR = resolve(import.meta.dirname, "..", "results");

let recorded: Figure[] = [];

/**
 * Adds a figure to this run's results, replacing one of the same name.
 * @example recordFigure({ name: "example.direct.rps", unit: "req/s", median: 2100, baseline: "hello.rps" });
 */
export function recordFigure(figure: Figure): void {
  recorded = mergeFigures(recorded, [figure]);
}

/** The figures recorded so far in this process, ratios not yet filled in. */
export function recordedFigures(): readonly Figure[] {
  return recorded;
}

/** CPU count and model, Node version and OS of this machine. */
export function machineInfo(): Machine {
  let os = `${type()} ${release()} ${arch()}`;
  try {
    const pretty = /^PRETTY_NAME="?([^"\n]+)"?$/m.exec(readFileSync("/etc/os-release", "utf8"))?.[1];
    if (pretty) os = `${pretty}, ${os}`;
  } catch {
    // not Linux, or no os-release: the kernel line alone is enough
  }
  const list = cpus();
  return { cpus: list.length, cpuModel: list[0]?.model.trim() ?? "unknown CPU", node: process.version, os };
}

/** Options of {@link writeResults}. */
export interface WriteResultsOptions {
  /** Recorded beside the figures (durations, connections…). */
  settings: Record<string, string | number>;
  /** Keep figures of the previous `latest.json` that this run did not measure (a `BENCH_ONLY` run). */
  keepPrevious?: boolean;
  /** Default {@link RESULTS_DIR}. */
  dir?: string;
  /** Default: the recorded figures. */
  figures?: readonly Figure[];
  /** Default: now. */
  generatedAt?: Date;
}

function readPrevious(file: string): Figure[] {
  if (!existsSync(file)) return [];
  const parsed = JSON.parse(readFileSync(file, "utf8")) as Partial<BenchReport>;
  return Array.isArray(parsed.figures) ? parsed.figures : [];
}

function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/**
 * Writes `latest.json` and `latest.md` with ratios resolved against baselines of the same report.
 * Returns the report, the file paths and the baselines that named no figure.
 * @example const { jsonPath } = writeResults({ settings: { durationSec: 10 } });
 */
export function writeResults(options: WriteResultsOptions): { report: BenchReport; jsonPath: string; mdPath: string; missing: string[] } {
  const dir = options.dir ?? RESULTS_DIR;
  mkdirSync(dir, { recursive: true });
  const jsonPath = join(dir, "latest.json");
  const mdPath = join(dir, "latest.md");
  const base = options.keepPrevious ? readPrevious(jsonPath) : [];
  const figures = withRatios(mergeFigures(base, options.figures ?? recorded));
  const report: BenchReport = {
    generatedAt: (options.generatedAt ?? new Date()).toISOString(),
    machine: machineInfo(),
    settings: options.settings,
    figures,
  };
  writeAtomically(jsonPath, `${JSON.stringify(report, null, 2)}\n`);
  writeAtomically(mdPath, renderMarkdown(report));
  return { report, jsonPath, mdPath, missing: missingBaselines(figures) };
}
