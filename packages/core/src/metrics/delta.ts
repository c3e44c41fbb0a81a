import { labelKey, type GaugeSample, type HistogramSample, type MetricFamily } from "./families.ts";

type Sample = MetricFamily["samples"][number];

function byKey<S extends Sample>(samples: readonly S[]): Map<string, S> {
  return new Map(samples.map((s) => [labelKey(s.labels), s]));
}

function histogramDelta(cur: HistogramSample, prev: HistogramSample | undefined): HistogramSample | undefined {
  const count = cur.count - (prev?.count ?? 0);
  if (count <= 0) return undefined;
  return { labels: cur.labels, counts: cur.counts.map((c, i) => c - (prev?.counts[i] ?? 0)), sum: cur.sum - (prev?.sum ?? 0), count };
}

function gaugeChanged(cur: GaugeSample, prev: GaugeSample | undefined): boolean {
  return !prev || prev.at !== cur.at || prev.value !== cur.value;
}

function familyDelta(cur: MetricFamily, prev: MetricFamily | undefined): MetricFamily {
  const before = prev && prev.type === cur.type ? byKey<Sample>(prev.samples) : new Map<string, Sample>();
  const at = (s: Sample) => before.get(labelKey(s.labels));
  switch (cur.type) {
    case "counter":
      return {
        ...cur,
        samples: cur.samples.flatMap((s) => {
          const value = s.value - ((at(s) as typeof s | undefined)?.value ?? 0);
          return value > 0 ? [{ labels: s.labels, value }] : [];
        }),
      };
    case "gauge":
      return { ...cur, samples: cur.samples.filter((s) => gaugeChanged(s, at(s) as GaugeSample | undefined)) };
    case "histogram":
      return { ...cur, samples: cur.samples.flatMap((s) => histogramDelta(s, at(s) as HistogramSample | undefined) ?? []) };
  }
}

/**
 * What changed between two collections of the same registry: how much each counter and histogram series
 * grew, and the gauges set since. Families without a change are left out, so an idle isolate sends nothing.
 * @example const delta = metricsDelta(registry.collect(), lastSent);
 */
export function metricsDelta(current: readonly MetricFamily[], previous: readonly MetricFamily[]): MetricFamily[] {
  const before = new Map(previous.map((f) => [f.name, f]));
  return current.map((f) => familyDelta(f, before.get(f.name))).filter((f) => f.samples.length > 0);
}
