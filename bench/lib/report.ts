/** Pure model of a benchmark report: figures, baselines and ratios, and its markdown rendering. */
import { ratio, roundTo } from "./stats.ts";

/** One measured figure: the median over the repeated runs, compared with a baseline figure of the same run. */
export interface Figure {
  /** Dotted, stable name: `<subject>.<variant>.<metric>`, e.g. `example.gateway.rps`. */
  name: string;
  /** `req/s`, `ops/s` or `ms`. */
  unit: string;
  median: number;
  /** Median over the runs of each run's 99th percentile (latency figures). */
  p99?: number;
  /** Name of the figure this one is compared with, e.g. `hello.rps`. */
  baseline?: string;
  /** `median / baseline median`, filled in when the report is assembled. */
  ratio?: number;
  /** What was measured, in words, for the markdown table. */
  description?: string;
  /** The per-run values the median was taken from. */
  samples?: number[];
}

/** The machine the figures were measured on. */
export interface Machine {
  cpus: number;
  cpuModel: string;
  node: string;
  os: string;
}

/** The content of `bench/results/latest.json`. */
export interface BenchReport {
  generatedAt: string;
  machine: Machine;
  settings: Record<string, string | number>;
  figures: Figure[];
}

/**
 * `base` with `added` applied by name: a figure measured again replaces the old one in place, new ones are appended.
 * @example mergeFigures(previous.figures, thisRun).map((f) => f.name)
 */
export function mergeFigures(base: readonly Figure[], added: readonly Figure[]): Figure[] {
  const merged = new Map(base.map((f) => [f.name, f]));
  for (const f of added) merged.set(f.name, f);
  return [...merged.values()];
}

/**
 * Fills each figure's `ratio` from its baseline's median (rounded to 3 decimals); a figure whose baseline
 * is missing keeps no ratio, and {@link missingBaselines} names it.
 */
export function withRatios(figures: readonly Figure[]): Figure[] {
  const byName = new Map(figures.map((f) => [f.name, f]));
  return figures.map((f) => {
    const rest = { ...f };
    delete rest.ratio;
    const base = f.baseline === undefined ? undefined : byName.get(f.baseline);
    const r = base ? ratio(f.median, base.median) : undefined;
    return r === undefined ? rest : { ...rest, ratio: roundTo(r, 3) };
  });
}

/** `figure → baseline` for every baseline that names no figure of the report. */
export function missingBaselines(figures: readonly Figure[]): string[] {
  const names = new Set(figures.map((f) => f.name));
  return figures.filter((f) => f.baseline !== undefined && !names.has(f.baseline)).map((f) => `${f.name} → ${f.baseline}`);
}

/**
 * A value with its unit for people: rates as whole numbers with thousands separators, milliseconds with
 * three significant decimals at most, small fractional quantities with three significant digits.
 * @example formatValue(4312.4, "req/s") // "4,312 req/s"
 */
export function formatValue(value: number, unit: string): string {
  if (unit === "ms") return `${value < 1 ? value.toFixed(3) : value < 100 ? value.toFixed(2) : value.toFixed(0)} ms`;
  // Small quantities (commands per event) keep three significant digits instead of rounding to 0 or 1.
  if (Math.abs(value) < 100 && !Number.isInteger(value)) return `${Number(value.toPrecision(3))} ${unit}`;
  return `${Math.round(value).toLocaleString("en-US")} ${unit}`;
}

const cell = (text: string) => text.replace(/\|/g, "\\|");

/** Renders `bench/results/latest.md`: when and where, the settings, and one table row per figure. */
export function renderMarkdown(report: BenchReport): string {
  const m = report.machine;
  const settings = Object.entries(report.settings)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
  const rows = report.figures.map((f) =>
    [
      `\`${f.name}\``,
      formatValue(f.median, f.unit),
      f.p99 === undefined ? "" : formatValue(f.p99, f.unit),
      f.baseline === undefined ? "" : `\`${f.baseline}\``,
      f.ratio === undefined ? "" : `${f.ratio.toFixed(2)}×`,
      cell(f.description ?? ""),
    ].join(" | "),
  );
  return [
    "# Benchmark results",
    "",
    `Generated ${report.generatedAt} by \`npm run bench\` on ${m.cpus} × ${m.cpuModel}, Node ${m.node}, ${m.os}.`,
    `Settings: ${settings}. Each figure is the median of the repeated runs; p99 is the median of the runs' 99th percentiles.`,
    "Ratio is median / baseline median from the same run: below 1 for a rate means slower than the baseline, above 1 for a latency means slower.",
    "Absolute numbers depend on the machine; compare ratios across machines.",
    "",
    "| Figure | Median | p99 | Baseline | Ratio | What |",
    "| --- | ---: | ---: | --- | ---: | --- |",
    ...rows.map((r) => `| ${r} |`),
    "",
  ].join("\n");
}
