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
  /** The service whose batch added the series: the series counts against that service's share. */
  owner: string;
  /** When a batch last carried the series (ms since the epoch). */
  updatedAt: number;
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
  /** New series not added because the aggregate holds `maxSeries` already, or their service its `maxSeriesPerService`. */
  dropped: number;
}

/** What accepting a batch did: nothing for a batch applied before; else the isolate's new mark and the merge. */
export type AcceptResult = { duplicate: true } | ({ duplicate: false; source: SourceMark } & MergeResult);

/** What a sweep removed, for the caller to delete from storage. */
export interface SweepResult {
  series: Array<Pick<StoredSeries, "name" | "key">>;
  /** Families left without a series. */
  families: string[];
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
  /**
   * Most series one service's batches may add (default: no limit but `maxSeries`), so one service filling the
   * aggregate with series leaves room for every other.
   */
  maxSeriesPerService?: number;
  /**
   * Counters and histograms no batch carried for this long are dropped (default 24 h): a series made once stays
   * out of storage for good. Prometheus sees one that comes back as a counter reset.
   */
  idleTtlMs?: number;
}

type Held = Omit<StoredSeries, "name" | "key">;

interface Family extends FamilyMeta {
  series: Map<string, Held>;
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
  private readonly owned = new Map<string, number>();
  private seriesCount = 0;
  private readonly gaugeTtlMs: number;
  private readonly sourceTtlMs: number;
  private readonly maxSeries: number;
  private readonly maxSeriesPerService: number;
  private readonly idleTtlMs: number;

  constructor(options: AggregateOptions = {}) {
    this.gaugeTtlMs = options.gaugeTtlMs ?? 3_600_000;
    this.sourceTtlMs = options.sourceTtlMs ?? 86_400_000;
    this.maxSeries = options.maxSeries ?? 50_000;
    this.maxSeriesPerService = options.maxSeriesPerService ?? Infinity;
    this.idleTtlMs = options.idleTtlMs ?? 86_400_000;
  }

  /** Number of series held. */
  get size(): number {
    return this.seriesCount;
  }

  /** Number of series held that `service`'s batches added. */
  ownedBy(service: string): number {
    return this.owned.get(service) ?? 0;
  }

  /** Restores persisted state (families first, then their series and the isolates' marks). */
  load(families: readonly FamilyMeta[], series: readonly StoredSeries[], sources: readonly SourceMark[]): void {
    for (const f of families) this.byName.set(f.name, { ...f, series: new Map() });
    for (const { name, key, ...held } of series) {
      const family = this.byName.get(name);
      if (!family) continue;
      const cur = family.series.get(key);
      if (cur) this.count(cur.owner, -1);
      this.count(held.owner, 1);
      family.series.set(key, held);
    }
    for (const m of sources) this.sources.set(m.isolate, m);
  }

  /** Applies a batch unless this isolate's batch `seq` (or a later one) was applied already. */
  accept(batch: MetricsBatch, now: number): AcceptResult {
    const last = this.sources.get(batch.isolate);
    if (last && batch.seq <= last.seq) return { duplicate: true };
    const source = { isolate: batch.isolate, seq: batch.seq, seenAt: now };
    this.sources.set(batch.isolate, source);
    // A delta without series changes nothing; an empty family would only take room.
    const families = batch.families.filter((f) => f.samples.length > 0);
    return { duplicate: false, source, ...this.merge(families, batch.service, now) };
  }

  /**
   * Adds families into the aggregate; series without a `service` label get `service` when one is given, and new
   * series count against that service's share. A family is created by its first series held, or when it comes
   * without any.
   */
  merge(families: readonly MetricFamily[], service?: string, now = 0): MergeResult {
    const result: MergeResult = { families: [], series: [], conflicts: [], dropped: 0 };
    const owner = service ?? "";
    for (const f of families) {
      const meta = metaOf(f);
      const known = this.byName.get(f.name);
      if (known && (known.type !== meta.type || !sameBuckets(known.buckets, meta.buckets))) {
        result.conflicts.push(f.name);
        continue;
      }
      let family: Family | undefined = known?.help === meta.help ? known : undefined;
      const hold = (): Family => {
        if (!family) {
          family = { ...meta, series: known?.series ?? new Map<string, Held>() };
          this.byName.set(f.name, family);
          result.families.push(meta);
        }
        return family;
      };
      if (f.samples.length === 0) hold();
      for (const raw of f.samples) {
        const s = withService(raw, service);
        const key = labelKey(s.labels);
        const cur = (family ?? known)?.series.get(key);
        if (!cur && (this.seriesCount >= this.maxSeries || this.ownedBy(owner) >= this.maxSeriesPerService)) {
          result.dropped++;
          continue;
        }
        const held = { sample: add(f.type, cur?.sample, s), owner: cur?.owner ?? owner, updatedAt: now };
        if (!cur) this.count(owner, 1);
        hold().series.set(key, held);
        result.series.push({ name: f.name, key, ...held });
      }
    }
    return result;
  }

  /**
   * Drops gauges not set within the gauge TTL, counters and histograms no batch carried within the idle TTL and
   * families left without a series, and forgets isolates silent for longer than the source TTL.
   */
  sweep(now: number): SweepResult {
    const out: SweepResult = { series: [], families: [], isolates: [] };
    for (const f of this.byName.values()) {
      for (const [key, s] of f.series) {
        const fresh = f.type === "gauge" ? (s.sample as GaugeSample).at >= now - this.gaugeTtlMs : s.updatedAt >= now - this.idleTtlMs;
        if (fresh) continue;
        f.series.delete(key);
        this.count(s.owner, -1);
        out.series.push({ name: f.name, key });
      }
      if (f.series.size > 0) continue;
      this.byName.delete(f.name);
      out.families.push(f.name);
    }
    for (const [isolate, mark] of this.sources) {
      if (mark.seenAt >= now - this.sourceTtlMs) continue;
      this.sources.delete(isolate);
      out.isolates.push(isolate);
    }
    return out;
  }

  /**
   * Drops every series whose labels match `match` (each label named there has one of its values: say, the series
   * of a deleted stream, or of one group on it), and the families that leaves without a series.
   * @example agg.forget({ stream: ["orders", "orders~1"] });
   */
  forget(match: Readonly<Record<string, readonly string[]>>): SweepResult {
    const out: SweepResult = { series: [], families: [], isolates: [] };
    const wanted = Object.entries(match).map(([label, values]) => [label, new Set(values)] as const);
    if (wanted.length === 0) return out;
    for (const f of this.byName.values()) {
      const before = f.series.size;
      for (const [key, s] of f.series) {
        if (!wanted.every(([label, values]) => values.has(s.sample.labels[label] ?? "\u0000"))) continue;
        f.series.delete(key);
        this.count(s.owner, -1);
        out.series.push({ name: f.name, key });
      }
      if (f.series.size > 0 || f.series.size === before) continue;
      this.byName.delete(f.name);
      out.families.push(f.name);
    }
    return out;
  }

  /** Every family and its series, sorted by name and labels, ready to render. */
  families(): MetricFamily[] {
    return [...this.byName.values()]
      .sort((a, b) => (a.name < b.name ? -1 : 1))
      .map((f) => {
        const samples = [...f.series.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, s]) => s.sample);
        return (
          f.type === "histogram"
            ? { type: f.type, name: f.name, help: f.help, buckets: f.buckets ?? [], samples }
            : { type: f.type, name: f.name, help: f.help, samples }
        ) as MetricFamily;
      });
  }

  private count(owner: string, by: number): void {
    this.seriesCount += by;
    const n = (this.owned.get(owner) ?? 0) + by;
    if (n > 0) this.owned.set(owner, n);
    else this.owned.delete(owner);
  }
}
