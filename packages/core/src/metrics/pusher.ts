import { metricsDelta } from "./delta.ts";
import type { MetricFamily, MetricsBatch } from "./families.ts";
import type { MetricsRegistry } from "./registry.ts";

/**
 * Delivers one batch to the aggregator; throws when it was not acknowledged (the batch is then sent again),
 * or {@link MetricsBatchRefused} when the batch itself is invalid (it is then dropped).
 */
export type MetricsSink = (batch: MetricsBatch) => Promise<void>;

/** The aggregator refused a batch as invalid (too large, malformed): sending it again cannot succeed. */
export class MetricsBatchRefused extends Error {
  override readonly name = "MetricsBatchRefused";
}

/** When an isolate sends its deltas: after `maxRequests` requests, or `intervalMs` after its last flush. */
export interface FlushPolicy {
  intervalMs: number;
  maxRequests: number;
}

/** Ten seconds or 500 requests, whichever comes first: at most a few subrequests a minute per isolate. */
export const DEFAULT_FLUSH_POLICY: FlushPolicy = { intervalMs: 10_000, maxRequests: 500 };

/** What to do after a request: flush now, flush in `inMs` (nothing is scheduled yet), or nothing. */
export type FlushDecision = { kind: "now" } | { kind: "later"; inMs: number } | { kind: "none" };

/** The pusher's state that {@link flushDecision} reads. */
export interface FlushState {
  lastFlushAt: number;
  unflushedRequests: number;
  /** A delayed flush is already waiting. */
  scheduled: boolean;
}

/**
 * Whether to flush now. Otherwise one delayed flush is scheduled for the end of the interval, so the last
 * requests before an isolate goes quiet are still sent within `intervalMs`.
 * @example flushDecision({ lastFlushAt: 0, unflushedRequests: 3, scheduled: false }, 4000, DEFAULT_FLUSH_POLICY) // later, in 6000 ms
 */
export function flushDecision(state: FlushState, now: number, policy: FlushPolicy): FlushDecision {
  if (state.unflushedRequests >= policy.maxRequests || now - state.lastFlushAt >= policy.intervalMs) return { kind: "now" };
  if (state.scheduled || state.unflushedRequests === 0) return { kind: "none" };
  return { kind: "later", inMs: state.lastFlushAt + policy.intervalMs - now };
}

const sleep = (ms: number) => new Promise<void>((done) => setTimeout(done, ms));

/**
 * Sends one isolate's metric deltas to the aggregator in batches numbered per isolate. A batch that was not
 * acknowledged is sent again unchanged (same `seq`), so the aggregator can drop it if the first attempt did
 * arrive; deltas collected meanwhile go into the next batch. Keep one per registry per isolate.
 * @example
 * const pusher = new MetricsPusher(registry, "billing"); // module scope
 * c.executionCtx.waitUntil(pusher.afterRequest(sink, DEFAULT_FLUSH_POLICY) ?? Promise.resolve());
 */
export class MetricsPusher {
  private isolateId: string | undefined;
  private seq = 0;
  private sent: MetricFamily[] = [];
  private pending: { batch: MetricsBatch; snapshot: MetricFamily[] } | undefined;
  private inFlight: Promise<void> | undefined;
  private lastFlushAt: number | undefined;
  private unflushed = 0;
  private scheduled = false;

  constructor(
    readonly registry: MetricsRegistry,
    readonly service: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** Random ID of this isolate's stream of batches (drawn on first use: Workers allow no randomness at startup). */
  get isolate(): string {
    this.isolateId ??= crypto.randomUUID();
    return this.isolateId;
  }

  /** Counts one request and returns the flush it calls for (now or delayed), to hand to `waitUntil`. */
  afterRequest(sink: MetricsSink, policy: FlushPolicy): Promise<void> | undefined {
    const now = this.now();
    this.lastFlushAt ??= now;
    this.unflushed++;
    const decision = flushDecision(
      { lastFlushAt: this.lastFlushAt, unflushedRequests: this.unflushed, scheduled: this.scheduled },
      now,
      policy,
    );
    if (decision.kind === "now") return this.flush(sink);
    if (decision.kind === "none") return undefined;
    this.scheduled = true;
    return sleep(decision.inMs).then(() => {
      this.scheduled = false;
      return this.flush(sink);
    });
  }

  /** Flushes when `intervalMs` has passed since the last flush: for work outside requests, such as a Durable Object's alarm. */
  flushIfDue(sink: MetricsSink, policy: FlushPolicy): Promise<void> | undefined {
    const now = this.now();
    this.lastFlushAt ??= now;
    return now - this.lastFlushAt >= policy.intervalMs ? this.flush(sink) : undefined;
  }

  /** Sends the unacknowledged batch, if any, then everything collected since; joins a flush in progress. */
  flush(sink: MetricsSink): Promise<void> {
    this.inFlight ??= this.send(sink).finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async send(sink: MetricsSink): Promise<void> {
    try {
      for (let round = 0; round < 2; round++) {
        this.pending ??= this.nextBatch();
        if (!this.pending) return;
        try {
          await sink(this.pending.batch);
        } catch (err) {
          if (err instanceof MetricsBatchRefused) this.acknowledge();
          throw err;
        }
        this.acknowledge();
      }
    } finally {
      this.lastFlushAt = this.now();
      this.unflushed = 0;
    }
  }

  /** The pending batch is settled: later deltas are computed from its snapshot. */
  private acknowledge(): void {
    if (this.pending) this.sent = this.pending.snapshot;
    this.pending = undefined;
  }

  private nextBatch(): { batch: MetricsBatch; snapshot: MetricFamily[] } | undefined {
    const snapshot = this.registry.collect();
    const families = metricsDelta(snapshot, this.sent);
    if (families.length === 0) return undefined;
    this.seq += 1;
    return { batch: { service: this.service, isolate: this.isolate, seq: this.seq, families }, snapshot };
  }
}

const pushers = new WeakMap<MetricsRegistry, MetricsPusher>();

/**
 * The isolate's pusher of `registry`, created on first use: the service's request handling and the Durable
 * Objects writing into the same registry share it, so they share its batch numbering.
 * @example await pusherOf(workerMetrics, "gateway").flush(sink);
 */
export function pusherOf(registry: MetricsRegistry, service: string): MetricsPusher {
  let pusher = pushers.get(registry);
  if (!pusher) {
    pusher = new MetricsPusher(registry, service);
    pushers.set(registry, pusher);
  }
  return pusher;
}
