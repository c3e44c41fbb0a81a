import {
  labelKey,
  type CounterSample,
  type GaugeSample,
  type HistogramSample,
  type MetricFamily,
  type MetricType,
  type MetricsBatch,
} from "./families.ts";

/** A family without its series: what the aggregate knows of a metric. */
export interface FamilyMeta {
  name: string;
  type: MetricType;
  help: string;
  /** Bucket bounds, for histograms. */
  buckets?: number[];
}

/** One aggregated series, as the aggregator stores it. */
export interface StoredSeries {
  name: string;
  key: string;
  sample: CounterSample | GaugeSample | HistogramSample;
}

/** The last batch applied from one isolate. */
export interface SourceMark {
  isolate: string;
  seq: number;
  seenAt: number;
}

/** What applying families changed, for the caller to persist, and what it refused. */
export interface MergeResult {
  families: FamilyMeta[];
  series: StoredSeries[];
  /** Families refused because their type or buckets differ from what the aggregate holds. */
  conflicts: string[];
  /** New series not added because the aggregate holds `maxSeries` already. */
  dropped: number;
}

/** What accepting a batch did: nothing for a batch applied before; else the isolate's new mark and the merge. */
export type AcceptResult = { duplicate: true } | ({ duplicate: false; source: SourceMark } & MergeResult);

/** What a sweep removed, for the caller to delete from storage. */
export interface SweepResult {
  series: Array<Pick<StoredSeries, "name" | "key">>;
  isolates: string[];
}

/** Limits of a {@link MetricsAggregate}. */
export interface AggregateOptions {
  /** Gauges not set for this long are dropped (default 1 h): the worker that set them is gone. */
  gaugeTtlMs?: number;
  /** Isolates not heard from for this long are forgotten (default 24 h); a retry older than that would apply again. */
  sourceTtlMs?: number;
  /** Most series held at once (default 50,000); new series past it are dropped, existing ones still add up. */
  maxSeries?: number;
}

interface Family extends FamilyMeta {
  series: Map<string, StoredSeries["sample"]>;
}

const sameBuckets = (a: readonly number[] | undefined, b: readonly number[] | undefined) =>
  (a?.length ?? 0) === (b?.length ?? 0) && (a ?? []).every((v, i) => v === b?.[i]);

function metaOf(f: MetricFamily): FamilyMeta {
  return f.type === "histogram"
    ? { name: f.name, type: f.type, help: f.help, buckets: f.buckets }
    : { name: f.name, type: f.type, help: f.help };
}

function withService<S extends { labels: Record<string, string> }>(s: S, service: string | undefined): S {
  return service === undefined || "service" in s.labels ? s : { ...s, labels: { ...s.labels, service } };
}

function add(type: MetricType, cur: StoredSeries["sample"] | undefined, inc: StoredSeries["sample"]): StoredSeries["sample"] {
  if (!cur) return inc;
  if (type === "gauge") return (inc as GaugeSample).at >= (cur as GaugeSample).at ? inc : cur;
  if (type === "counter") return { labels: cur.labels, value: (cur as CounterSample).value + (inc as CounterSample).value };
  const [h, d] = [cur as HistogramSample, inc as HistogramSample];
  return { labels: h.labels, counts: h.counts.map((c, i) => c + (d.counts[i] ?? 0)), sum: h.sum + d.sum, count: h.count + d.count };
}

/**
 * Metrics summed across isolates: counters and histogram buckets add up, gauges keep their latest setting.
 * Batches are applied once per (isolate, seq), so a retried batch is not counted twice. No I/O and no clock
 * of its own: the Durable Object around it persists what {@link accept} changed.
 * @example
 * const agg = new MetricsAggregate();
 * agg.accept({ service: "billing", isolate: "a1b2c3d4", seq: 1, families }, Date.now());
 * const text = renderFamilies(agg.families());
 */
export class MetricsAggregate {
  private readonly byName = new Map<string, Family>();
  private readonly sources = new Map<string, SourceMark>();
  private seriesCount = 0;
  private readonly gaugeTtlMs: number;
  private readonly sourceTtlMs: number;
  private readonly maxSeries: number;

  constructor(options: AggregateOptions = {}) {
    this.gaugeTtlMs = options.gaugeTtlMs ?? 3_600_000;
    this.sourceTtlMs = options.sourceTtlMs ?? 86_400_000;
    this.maxSeries = options.maxSeries ?? 50_000;
  }

  /** Number of series held. */
  get size(): number {
    return this.seriesCount;
  }

  /** Restores persisted state (families first, then their series and the isolates' marks). */
  load(families: readonly FamilyMeta[], series: readonly StoredSeries[], sources: readonly SourceMark[]): void {
    for (const f of families) this.byName.set(f.name, { ...f, series: new Map() });
    for (const s of series) {
      const family = this.byName.get(s.name);
      if (family && !family.series.has(s.key)) this.seriesCount++;
      family?.series.set(s.key, s.sample);
    }
    for (const m of sources) this.sources.set(m.isolate, m);
  }

  /** Applies a batch unless this isolate's batch `seq` (or a later one) was applied already. */
  accept(batch: MetricsBatch, now: number): AcceptResult {
    const last = this.sources.get(batch.isolate);
    if (last && batch.seq <= last.seq) return { duplicate: true };
    const source = { isolate: batch.isolate, seq: batch.seq, seenAt: now };
    this.sources.set(batch.isolate, source);
    return { duplicate: false, source, ...this.merge(batch.families, batch.service) };
  }

  /** Adds families into the aggregate; series without a `service` label get `service` when one is given. */
  merge(families: readonly MetricFamily[], service?: string): MergeResult {
    const result: MergeResult = { families: [], series: [], conflicts: [], dropped: 0 };
    for (const f of families) {
      const meta = metaOf(f);
      let family = this.byName.get(f.name);
      if (family && (family.type !== meta.type || !sameBuckets(family.buckets, meta.buckets))) {
        result.conflicts.push(f.name);
        continue;
      }
      if (!family || family.help !== meta.help) {
        family = { ...meta, series: family?.series ?? new Map<string, StoredSeries["sample"]>() };
        this.byName.set(f.name, family);
        result.families.push(meta);
      }
      for (const raw of f.samples) {
        const s = withService(raw, service);
        const key = labelKey(s.labels);
        const cur = family.series.get(key);
        if (!cur && this.seriesCount >= this.maxSeries) {
          result.dropped++;
          continue;
        }
        if (!cur) this.seriesCount++;
        const next = add(f.type, cur, s);
        family.series.set(key, next);
        result.series.push({ name: f.name, key, sample: next });
      }
    }
    return result;
  }

  /** Drops gauges not set within the gauge TTL and forgets isolates silent for longer than the source TTL. */
  sweep(now: number): SweepResult {
    const out: SweepResult = { series: [], isolates: [] };
    for (const f of this.byName.values()) {
      if (f.type !== "gauge") continue;
      for (const [key, s] of f.series) {
        if ((s as GaugeSample).at >= now - this.gaugeTtlMs) continue;
        f.series.delete(key);
        this.seriesCount--;
        out.series.push({ name: f.name, key });
      }
    }
    for (const [isolate, mark] of this.sources) {
      if (mark.seenAt >= now - this.sourceTtlMs) continue;
      this.sources.delete(isolate);
      out.isolates.push(isolate);
    }
    return out;
  }

  /** Every family and its series, sorted by name and labels, ready to render. */
  families(): MetricFamily[] {
    return [...this.byName.values()]
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .map((f) => {
        const samples = [...f.series.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, s]) => s);
        return (
          f.type === "histogram"
            ? { type: f.type, name: f.name, help: f.help, buckets: f.buckets ?? [], samples }
            : { type: f.type, name: f.name, help: f.help, samples }
        ) as MetricFamily;
      });
  }
}
