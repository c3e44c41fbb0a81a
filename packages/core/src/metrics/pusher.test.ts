import { describe, expect, it } from "vitest";
import { MetricsAggregate } from "./aggregate.ts";
import type { MetricsBatch } from "./families.ts";
import { flushDecision, MetricsBatchRefused, MetricsPusher, type FlushPolicy } from "./pusher.ts";
import { MetricsRegistry } from "./registry.ts";

const policy: FlushPolicy = { intervalMs: 1000, maxRequests: 3 };

/** The value of a batch's (or an aggregate family's) first counter series. */
function firstValue(f: { samples: ReadonlyArray<object> } | undefined): number | undefined {
  const s = f?.samples[0];
  return s && "value" in s ? (s.value as number) : undefined;
}

describe("flushDecision", () => {
  it("flushes at maxRequests or once the interval has passed, else schedules one delayed flush", () => {
    expect(flushDecision({ lastFlushAt: 0, unflushedRequests: 3, scheduled: false }, 10, policy)).toEqual({ kind: "now" });
    expect(flushDecision({ lastFlushAt: 0, unflushedRequests: 1, scheduled: true }, 1000, policy)).toEqual({ kind: "now" });
    expect(flushDecision({ lastFlushAt: 0, unflushedRequests: 1, scheduled: false }, 400, policy)).toEqual({ kind: "later", inMs: 600 });
    expect(flushDecision({ lastFlushAt: 0, unflushedRequests: 2, scheduled: true }, 400, policy)).toEqual({ kind: "none" });
  });
});

describe("MetricsPusher", () => {
  it("numbers batches per isolate and sends only what changed since the last acknowledged batch", async () => {
    const reg = new MetricsRegistry();
    const jobs = reg.counter("jobs_total", "Jobs");
    const sent: MetricsBatch[] = [];
    const pusher = new MetricsPusher(reg, "billing");
    jobs.inc({}, 2);
    await pusher.flush(async (b) => void sent.push(b));
    await pusher.flush(async (b) => void sent.push(b));
    jobs.inc({}, 5);
    await pusher.flush(async (b) => void sent.push(b));
    expect(sent.map((b) => [b.seq, firstValue(b.families[0])])).toEqual([
      [1, 2],
      [2, 5],
    ]);
    expect(new Set(sent.map((b) => b.isolate)).size).toBe(1);
  });

  it("resends an unacknowledged batch unchanged, then the newer deltas, so a lost acknowledgement counts once", async () => {
    const reg = new MetricsRegistry();
    const jobs = reg.counter("jobs_total", "Jobs");
    const agg = new MetricsAggregate();
    let loseAck = true;
    const sink = async (b: MetricsBatch) => {
      agg.accept(b, 0);
      if (loseAck) throw new Error("connection reset after delivery");
    };
    const pusher = new MetricsPusher(reg, "billing");
    jobs.inc({}, 4);
    await expect(pusher.flush(sink)).rejects.toThrow("connection reset");
    jobs.inc({}, 1);
    loseAck = false;
    await pusher.flush(sink);
    expect(firstValue(agg.families()[0])).toBe(5);
  });

  it("drops a batch the aggregator refuses as invalid instead of sending it forever", async () => {
    const reg = new MetricsRegistry();
    const jobs = reg.counter("jobs_total", "Jobs");
    const sent: MetricsBatch[] = [];
    const pusher = new MetricsPusher(reg, "billing");
    jobs.inc({}, 3);
    await expect(
      pusher.flush(async () => {
        throw new MetricsBatchRefused("413");
      }),
    ).rejects.toThrow(MetricsBatchRefused);
    jobs.inc({}, 2);
    await pusher.flush(async (b) => void sent.push(b));
    expect(sent.map((b) => [b.seq, firstValue(b.families[0])])).toEqual([[2, 2]]);
  });

  it("joins a flush in progress instead of sending twice", async () => {
    const reg = new MetricsRegistry();
    reg.counter("jobs_total", "Jobs").inc();
    const sent: MetricsBatch[] = [];
    const pusher = new MetricsPusher(reg, "billing");
    const sink = async (b: MetricsBatch) => {
      await new Promise((r) => setTimeout(r, 5));
      sent.push(b);
    };
    await Promise.all([pusher.flush(sink), pusher.flush(sink)]);
    expect(sent).toHaveLength(1);
  });

  it("flushes after maxRequests requests and sends the tail of a quiet isolate after the interval", async () => {
    const reg = new MetricsRegistry();
    const jobs = reg.counter("jobs_total", "Jobs");
    const sent: MetricsBatch[] = [];
    const sink = async (b: MetricsBatch) => void sent.push(b);
    const pusher = new MetricsPusher(reg, "billing");
    const quick: FlushPolicy = { intervalMs: 30, maxRequests: 3 };
    const request = () => {
      jobs.inc();
      return pusher.afterRequest(sink, quick);
    };
    const delayed = request();
    expect(request()).toBeUndefined();
    await request();
    expect(sent.map((b) => firstValue(b.families[0]))).toEqual([3]);
    await delayed;
    expect(sent).toHaveLength(1);
    await request();
    expect(sent.map((b) => firstValue(b.families[0]))).toEqual([3, 1]);
  });
});
