import { describe, expect, it } from "vitest";
import { MetricsAggregate } from "./aggregate.ts";
import { renderFamilies } from "./exposition.ts";
import type { MetricFamily, MetricsBatch } from "./families.ts";

const counter = (value: number, labels: Record<string, string> = { route: "/x" }): MetricFamily => ({
  type: "counter",
  name: "req_total",
  help: "Requests",
  samples: [{ labels, value }],
});
const batch = (isolate: string, seq: number, families: MetricFamily[], service = "billing"): MetricsBatch => ({
  service,
  isolate,
  seq,
  families,
});

describe("MetricsAggregate", () => {
  it("sums the counters of several isolates and adds the service label to series without one", () => {
    const agg = new MetricsAggregate();
    agg.accept(batch("isolate-a", 1, [counter(3)]), 0);
    agg.accept(batch("isolate-b", 1, [counter(4)]), 0);
    agg.accept(batch("isolate-a", 2, [counter(1)]), 0);
    expect(renderFamilies(agg.families())).toBe(
      ["# HELP req_total Requests", "# TYPE req_total counter", 'req_total{route="/x",service="billing"} 8', ""].join("\n"),
    );
  });

  it("applies a retried batch (same isolate and seq) once, and an older one not at all", () => {
    const agg = new MetricsAggregate();
    expect(agg.accept(batch("isolate-a", 1, [counter(5)]), 0)).toMatchObject({ duplicate: false });
    expect(agg.accept(batch("isolate-a", 2, [counter(2)]), 0)).toMatchObject({ duplicate: false });
    expect(agg.accept(batch("isolate-a", 2, [counter(2)]), 0)).toEqual({ duplicate: true });
    expect(agg.accept(batch("isolate-a", 1, [counter(5)]), 0)).toEqual({ duplicate: true });
    expect(agg.families()[0]?.samples).toEqual([{ labels: { route: "/x", service: "billing" }, value: 7 }]);
  });

  it("keeps a series' own service label (a gateway counting requests per upstream service)", () => {
    const agg = new MetricsAggregate();
    agg.accept(batch("isolate-a", 1, [counter(1, { service: "example" })], "gateway"), 0);
    expect(agg.families()[0]?.samples[0]?.labels).toEqual({ service: "example" });
  });

  it("merges histograms over the same buckets and refuses a family whose buckets or type differ", () => {
    const agg = new MetricsAggregate();
    const hist = (buckets: number[], counts: number[], sum: number, count: number): MetricFamily => ({
      type: "histogram",
      name: "lat_seconds",
      help: "Latency",
      buckets,
      samples: [{ labels: {}, counts, sum, count }],
    });
    agg.accept(batch("isolate-a", 1, [hist([0.1, 1], [1, 2], 0.6, 2)]), 0);
    agg.accept(batch("isolate-b", 1, [hist([0.1, 1], [0, 1], 3.5, 2)]), 0);
    const refused = agg.accept(batch("isolate-c", 1, [hist([0.5], [1], 0.2, 1), { ...counter(1), name: "lat_seconds" }]), 0);
    expect(refused).toMatchObject({ duplicate: false, conflicts: ["lat_seconds", "lat_seconds"] });
    expect(agg.families()[0]?.samples).toEqual([{ labels: { service: "billing" }, counts: [1, 3], sum: 4.1, count: 4 }]);
  });

  it("keeps the gauge value set last, whichever isolate reports it first", () => {
    const agg = new MetricsAggregate();
    const gauge = (value: number, at: number): MetricFamily => ({
      type: "gauge",
      name: "lag",
      help: "Lag",
      samples: [{ labels: {}, value, at }],
    });
    agg.accept(batch("isolate-new", 1, [gauge(7, 2000)]), 2000);
    agg.accept(batch("isolate-old", 1, [gauge(40, 1000)]), 2100);
    expect(agg.families()[0]?.samples).toEqual([{ labels: { service: "billing" }, value: 7, at: 2000 }]);
  });

  it("drops gauges not set within the TTL and forgets isolates silent past theirs, but keeps counters", () => {
    const agg = new MetricsAggregate({ gaugeTtlMs: 1000, sourceTtlMs: 5000 });
    agg.accept(
      batch("isolate-a", 1, [counter(2), { type: "gauge", name: "lag", help: "Lag", samples: [{ labels: {}, value: 1, at: 0 }] }]),
      0,
    );
    expect(agg.sweep(900)).toEqual({ series: [], isolates: [] });
    expect(agg.sweep(1500)).toEqual({ series: [{ name: "lag", key: 'service="billing"' }], isolates: [] });
    expect(agg.sweep(6000)).toEqual({ series: [], isolates: ["isolate-a"] });
    expect(agg.size).toBe(1);
    expect(agg.families().map((f) => [f.name, f.samples.length])).toEqual([
      ["lag", 0],
      ["req_total", 1],
    ]);
  });

  it("stops adding series at maxSeries but still adds to the series it holds", () => {
    const agg = new MetricsAggregate({ maxSeries: 1 });
    agg.accept(batch("isolate-a", 1, [counter(1, { route: "/a" })]), 0);
    const result = agg.accept(batch("isolate-a", 2, [counter(1, { route: "/b" }), counter(4, { route: "/a" })]), 0);
    expect(result).toMatchObject({ dropped: 1 });
    expect(agg.families()[0]?.samples).toEqual([{ labels: { route: "/a", service: "billing" }, value: 5 }]);
  });

  it("restores the same totals and the same idempotency from what it reported as changed", () => {
    const agg = new MetricsAggregate();
    const first = agg.accept(batch("isolate-a", 1, [counter(3)]), 10);
    const second = agg.accept(batch("isolate-a", 2, [counter(2)]), 20);
    if (first.duplicate || second.duplicate) throw new Error("unexpected duplicate");
    const restored = new MetricsAggregate();
    restored.load([...first.families, ...second.families], [...first.series, ...second.series].slice(-1), [second.source]);
    expect(restored.families()).toEqual(agg.families());
    expect(restored.accept(batch("isolate-a", 2, [counter(2)]), 30)).toEqual({ duplicate: true });
  });
});
