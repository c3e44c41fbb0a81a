/** Label names and values of one series. */
export type Labels = Record<string, string>;

/** Default latency buckets in seconds, from 1 ms to 10 s. */
export const DEFAULT_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

function escapeHelp(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

function labelKey(labels: Labels): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}="${escapeLabelValue(labels[k] ?? "")}"`)
    .join(",");
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

function series(name: string, key: string, extra?: string): string {
  const all = [key, extra].filter(Boolean).join(",");
  return all ? `${name}{${all}}` : name;
}

/** A monotonically increasing counter with labels. */
export class Counter {
  readonly type = "counter";
  private readonly values = new Map<string, { labels: Labels; value: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  /** Adds `by` (default 1, never negative) to the series with `labels`. */
  inc(labels: Labels = {}, by = 1): void {
    if (!(by >= 0)) throw new RangeError(`counter ${this.name} cannot decrease (by=${by})`);
    const key = labelKey(labels);
    const cur = this.values.get(key);
    if (cur) cur.value += by;
    else this.values.set(key, { labels, value: by });
  }

  /** Current value of one series (0 when never incremented). */
  get(labels: Labels = {}): number {
    return this.values.get(labelKey(labels))?.value ?? 0;
  }

  /** Prometheus text lines of this counter. */
  render(): string[] {
    const lines = [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} counter`];
    for (const [key, { value }] of this.values) lines.push(`${series(this.name, key)} ${formatValue(value)}`);
    return lines;
  }
}

/** A gauge: a value that goes up and down. */
export class Gauge {
  readonly type = "gauge";
  private readonly values = new Map<string, { labels: Labels; value: number }>();

  constructor(
    readonly name: string,
    readonly help: string,
  ) {}

  /** Sets the series with `labels` to `value`. */
  set(labels: Labels, value: number): void {
    this.values.set(labelKey(labels), { labels, value });
  }

  /** Current value of one series (0 when never set). */
  get(labels: Labels = {}): number {
    return this.values.get(labelKey(labels))?.value ?? 0;
  }

  /** Prometheus text lines of this gauge. */
  render(): string[] {
    const lines = [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} gauge`];
    for (const [key, { value }] of this.values) lines.push(`${series(this.name, key)} ${formatValue(value)}`);
    return lines;
  }
}

/** Cumulative-bucket histogram; bucket counts of two isolates add up, so it merges across isolates. */
export class Histogram {
  readonly type = "histogram";
  private readonly values = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();

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
    const key = labelKey(labels);
    let cur = this.values.get(key);
    if (!cur) {
      cur = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.values.set(key, cur);
    }
    for (let i = 0; i < this.buckets.length; i++) if (value <= (this.buckets[i] ?? Infinity)) cur.counts[i] = (cur.counts[i] ?? 0) + 1;
    cur.sum += value;
    cur.count += 1;
  }

  /** Number of observations of one series. */
  count(labels: Labels = {}): number {
    return this.values.get(labelKey(labels))?.count ?? 0;
  }

  /** Prometheus text lines of this histogram. */
  render(): string[] {
    const lines = [`# HELP ${this.name} ${escapeHelp(this.help)}`, `# TYPE ${this.name} histogram`];
    for (const [key, { counts, sum, count }] of this.values) {
      this.buckets.forEach((b, i) => lines.push(`${series(`${this.name}_bucket`, key, `le="${formatValue(b)}"`)} ${counts[i] ?? 0}`));
      lines.push(`${series(`${this.name}_bucket`, key, 'le="+Inf"')} ${count}`);
      lines.push(`${series(`${this.name}_sum`, key)} ${formatValue(sum)}`);
      lines.push(`${series(`${this.name}_count`, key)} ${count}`);
    }
    return lines;
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
    if (!NAME_RE.test(name)) throw new RangeError(`invalid metric name ${name}`);
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

  /** The whole registry as Prometheus text, ending with a newline. */
  render(): string {
    const lines: string[] = [];
    for (const m of this.metrics.values()) lines.push(...m.render());
    return lines.length ? `${lines.join("\n")}\n` : "";
  }
}

/** Content type of the Prometheus text exposition format. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";
