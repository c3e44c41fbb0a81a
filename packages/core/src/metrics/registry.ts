import { renderFamilies, renderFamily } from "./exposition.ts";
import {
  labelKey,
  METRIC_NAME,
  type CounterSample,
  type GaugeSample,
  type HistogramSample,
  type Labels,
  type MetricFamily,
} from "./families.ts";

/** Default latency buckets in seconds, from 1 ms to 10 s. */
export const DEFAULT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** A monotonically increasing counter with labels. */
export class Counter {
  readonly type = "counter";
  private readonly values = new Map<string, CounterSample>();

  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  /** Adds `by` (default 1, never negative) to the series with `labels`. */
  inc(labels: Labels = {}, by = 1): void {
    this.#assertIncrease(by);
    this.#series(labels).value += by;
  }

  /**
   * The series with `labels`, to count into without looking its labels up again (prom-client's `labels()`): for a
   * caller that keeps it, such as one per route. The series exists from this call, at 0.
   * @example const served = requests.labels({ route: "/x" }); served.inc();
   */
  labels(labels: Labels): { inc(by?: number): void } {
    const series = this.#series(labels);
    return {
      inc: (by = 1) => {
        this.#assertIncrease(by);
        series.value += by;
      },
    };
  }

  #series(labels: Labels): CounterSample {
    const key = labelKey(labels);
    let series = this.values.get(key);
    if (!series) {
      series = { labels, value: 0 };
      this.values.set(key, series);
    }
    return series;
  }

  #assertIncrease(by: number): void {
    if (!(by >= 0)) throw new RangeError(`counter ${this.name} cannot decrease (by=${by})`);
  }

  /** Current value of one series (0 when never incremented). */
  get(labels: Labels = {}): number {
    return this.values.get(labelKey(labels))?.value ?? 0;
  }

  /** A copy of this counter and its series. */
  collect(): MetricFamily {
    return { type: this.type, name: this.name, help: this.help, samples: [...this.values.values()].map((s) => ({ ...s })) };
  }

  /** Prometheus text lines of this counter. */
  render(): string[] {
    return renderFamily(this.collect());
  }
}

/** A gauge: a value that goes up and down. Each series remembers when it was set, so the latest setting wins across isolates. */
export class Gauge {
  readonly type = "gauge";
  private readonly values = new Map<string, GaugeSample>();

  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  /** Sets the series with `labels` to `value`. */
  set(labels: Labels, value: number): void {
    this.values.set(labelKey(labels), { labels, value, at: Date.now() });
  }

  /** Current value of one series (0 when never set). */
  get(labels: Labels = {}): number {
    return this.values.get(labelKey(labels))?.value ?? 0;
  }

  /** Drops the series with `labels` (what it measured is gone); nothing of it is sent again. */
  remove(labels: Labels): void {
    this.values.delete(labelKey(labels));
  }

  /** A copy of this gauge and its series. */
  collect(): MetricFamily {
    return { type: this.type, name: this.name, help: this.help, samples: [...this.values.values()].map((s) => ({ ...s })) };
  }

  /** Prometheus text lines of this gauge. */
  render(): string[] {
    return renderFamily(this.collect());
  }
}

/** Cumulative-bucket histogram; bucket counts of two isolates add up, so it merges across isolates. */
export class Histogram {
  readonly type = "histogram";
  private readonly values = new Map<string, HistogramSample>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: readonly number[] = DEFAULT_BUCKETS,
  ) {
    for (let i = 1; i < buckets.length; i++) {
      if (!((buckets[i] ?? 0) > (buckets[i - 1] ?? 0))) throw new RangeError(`histogram ${name}: buckets must increase`);
    }
  }

  /** Records one observation. */
  observe(labels: Labels, value: number): void {
    this.#add(this.#series(labels), value);
  }

  /** Records several observations of one series, looking its labels up once (a batch of deliveries' latencies). */
  observeMany(labels: Labels, values: readonly number[]): void {
    if (values.length === 0) return;
    const series = this.#series(labels);
    for (const value of values) this.#add(series, value);
  }

  /**
   * The series with `labels`, to observe into without looking its labels up again (prom-client's `labels()`).
   * @example const latency = duration.labels({ route: "/x" }); latency.observe(0.012);
   */
  labels(labels: Labels): { observe(value: number): void } {
    const series = this.#series(labels);
    return { observe: (value) => this.#add(series, value) };
  }

  #series(labels: Labels): HistogramSample {
    const key = labelKey(labels);
    let cur = this.values.get(key);
    if (!cur) {
      cur = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.values.set(key, cur);
    }
    return cur;
  }

  #add(series: HistogramSample, value: number): void {
    const buckets = this.buckets;
    const counts = series.counts;
    for (let i = 0; i < buckets.length; i++) if (value <= (buckets[i] ?? Infinity)) counts[i] = (counts[i] ?? 0) + 1;
    series.sum += value;
    series.count += 1;
  }

  /** Number of observations of one series. */
  count(labels: Labels = {}): number {
    return this.values.get(labelKey(labels))?.count ?? 0;
  }

  /** A copy of this histogram and its series. */
  collect(): MetricFamily {
    const samples = [...this.values.values()].map((s) => ({ ...s, counts: [...s.counts] }));
    return { type: this.type, name: this.name, help: this.help, buckets: [...this.buckets], samples };
  }

  /** Prometheus text lines of this histogram. */
  render(): string[] {
    return renderFamily(this.collect());
  }
}

type Metric = Counter | Gauge | Histogram;

/**
 * The metrics of one isolate, rendered in the Prometheus text exposition format (version 0.0.4).
 * @example const reg = new MetricsRegistry(); reg.counter("jobs_total", "Jobs run").inc({ kind: "x" });
 */
export class MetricsRegistry {
  private readonly metrics = new Map<string, Metric>();

  private register<M extends Metric>(name: string, make: () => M, type: M["type"]): M {
    if (!METRIC_NAME.test(name)) throw new RangeError(`invalid metric name ${name}`);
    const existing = this.metrics.get(name);
    if (existing) {
      if (existing.type !== type) throw new TypeError(`metric ${name} is already a ${existing.type}`);
      return existing as M;
    }
    const m = make();
    this.metrics.set(name, m);
    return m;
  }

  /** Gets or creates a counter. */
  counter(name: string, help: string): Counter {
    return this.register(name, () => new Counter(name, help), "counter");
  }

  /** Gets or creates a gauge. */
  gauge(name: string, help: string): Gauge {
    return this.register(name, () => new Gauge(name, help), "gauge");
  }

  /** Gets or creates a histogram. */
  histogram(name: string, help: string, buckets?: readonly number[]): Histogram {
    return this.register(name, () => new Histogram(name, help, buckets), "histogram");
  }

  /** A copy of every metric and its series: what a delta is computed from. */
  collect(): MetricFamily[] {
    return [...this.metrics.values()].map((m) => m.collect());
  }

  /** The whole registry as Prometheus text, ending with a newline. */
  render(): string {
    return renderFamilies(this.collect());
  }
}

/**
 * The registry of this worker's isolate, as prom-client's default register: the packages whose Durable Objects
 * run inside a worker (the event bus's consumers, say) count into it, and a worker that passes it to
 * `createService({ metrics: workerMetrics })` serves and pushes those series with its own.
 */
export const workerMetrics = new MetricsRegistry();
