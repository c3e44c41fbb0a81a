import type { MetricFamily } from "@foundation/core";

/** A counter summed over the labels shown. */
export interface DashboardCount {
  labels: Record<string, string>;
  value: number;
}

/**
 * Sums a counter's series by `keep` labels over the series `match` accepts; counts of zero are left out.
 * @example sumBy(families, "foundation_http_requests_total", ["service"], (l) => l.status?.startsWith("5") ?? false)
 */
export function sumBy(
  families: readonly MetricFamily[],
  name: string,
  keep: readonly string[],
  match: (labels: Record<string, string>) => boolean,
): DashboardCount[] {
  const sums = new Map<string, DashboardCount>();
  for (const f of families) {
    if (f.name !== name || f.type !== "counter") continue;
    for (const s of f.samples) {
      if (!match(s.labels) || s.value === 0) continue;
      const labels = Object.fromEntries(keep.map((k) => [k, s.labels[k] ?? ""]));
      const key = JSON.stringify(labels);
      const sum = sums.get(key) ?? { labels, value: 0 };
      sum.value += s.value;
      sums.set(key, sum);
    }
  }
  return [...sums.values()].sort((a, b) => b.value - a.value);
}
