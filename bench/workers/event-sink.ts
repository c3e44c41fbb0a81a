/**
 * The subscriber of bench/events.bench.ts: a service on the kit (wired in event-sink-entry.js) whose handler
 * records, per delivered event, the milliseconds from Redis accepting it (the time in its stream id) to the
 * handler running. `GET /stats` answers the count and the latency histogram, `GET /count` the count alone (cheap to
 * poll), `POST /reset` clears them.
 */

/** Streams the sink subscribes to; the bench publishes to these. */
export const SINK_STREAMS = ["bench.e2e.a", "bench.e2e.b", "bench.e2e.c"] as const;

/** Partition counts bench/events-scaling.bench.ts compares. */
export const SCALE_PARTITIONS = [1, 4, 16] as const;
/** Most measured runs per partition count: each run drains a topic of its own. */
export const SCALE_MAX_RUNS = 5;
/** The topic of run `run` (1-based) at `partitions` partitions; `STREAM_PARTITIONS` maps `bench.scale.p<n>.*` to n. */
export function scaleTopic(partitions: number, run: number): string {
  return `bench.scale.p${partitions}.r${run}`;
}
/** Every topic the scaling bench may publish to, which the sink subscribes to as well. */
export const SCALE_TOPICS = SCALE_PARTITIONS.flatMap((p) => Array.from({ length: SCALE_MAX_RUNS }, (_, r) => scaleTopic(p, r + 1)));

/** Latencies above this many milliseconds share the last bucket. */
const MAX_MS = 120_000;

/** What `GET /stats` answers: the events received and their latency histogram as `[ms, count]` pairs. */
export interface SinkStats {
  count: number;
  firstAt: number | null;
  lastAt: number | null;
  buckets: Array<[number, number]>;
}

/**
 * The buckets of the deliveries between two cumulative snapshots: `after` minus `before`.
 * @example histogramDelta([[5, 2]], [[5, 3], [9, 1]]) // [[5, 1], [9, 1]]
 */
export function histogramDelta(
  before: ReadonlyArray<readonly [number, number]>,
  after: ReadonlyArray<readonly [number, number]>,
): Array<[number, number]> {
  const earlier = new Map(before);
  const out: Array<[number, number]> = [];
  for (const [ms, n] of after) {
    const d = n - (earlier.get(ms) ?? 0);
    if (d > 0) out.push([ms, d]);
  }
  return out;
}

/** A histogram of delivery latencies in 1-ms buckets, with the receive times of the first and last event. */
export class LatencyRecorder {
  private counts = new Uint32Array(MAX_MS + 1);
  private count = 0;
  private firstAt: number | null = null;
  private lastAt: number | null = null;

  /** Records one event read at `streamId` and handled at `nowMs`. */
  record(streamId: string, nowMs: number): void {
    const acceptedMs = Number(streamId.split("-")[0]);
    const ms = Math.min(MAX_MS, Math.max(0, Math.round(nowMs - acceptedMs)));
    this.counts[ms] = (this.counts[ms] ?? 0) + 1;
    this.count++;
    this.firstAt ??= nowMs;
    this.lastAt = nowMs;
  }

  /** The count and receive times only. */
  progress(): Omit<SinkStats, "buckets"> {
    return { count: this.count, firstAt: this.firstAt, lastAt: this.lastAt };
  }

  /** The count, receive times and non-empty buckets. */
  snapshot(): SinkStats {
    const buckets: Array<[number, number]> = [];
    this.counts.forEach((n, ms) => {
      if (n > 0) buckets.push([ms, n]);
    });
    return { count: this.count, firstAt: this.firstAt, lastAt: this.lastAt, buckets };
  }

  /** Forgets everything recorded. */
  reset(): void {
    this.counts = new Uint32Array(MAX_MS + 1);
    this.count = 0;
    this.firstAt = null;
    this.lastAt = null;
  }
}

/**
 * The `p`-th percentile (0–100) of a `[value, count]` histogram: the smallest value with at least p % of the
 * counts at or below it.
 * @example histogramPercentile([[1, 50], [9, 50]], 99) // 9
 */
export function histogramPercentile(buckets: ReadonlyArray<readonly [number, number]>, p: number): number {
  const total = buckets.reduce((sum, [, n]) => sum + n, 0);
  if (total === 0) throw new Error("percentile of an empty histogram");
  const rank = Math.max(1, Math.ceil((p / 100) * total));
  let seen = 0;
  for (const [value, n] of buckets) {
    seen += n;
    if (seen >= rank) return value;
  }
  return buckets.at(-1)?.[0] ?? 0;
}
