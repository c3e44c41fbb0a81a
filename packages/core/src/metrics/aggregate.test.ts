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

  it("drops gauges not set within the TTL and the family they leave empty, forgets isolates silent past theirs, but keeps counters", () => {
    const agg = new MetricsAggregate({ gaugeTtlMs: 1000, sourceTtlMs: 5000 });
    agg.accept(
      batch("isolate-a", 1, [counter(2), { type: "gauge", name: "lag", help: "Lag", samples: [{ labels: {}, value: 1, at: 0 }] }]),
      0,
    );
    expect(agg.sweep(900)).toEqual({ series: [], families: [], isolates: [] });
    expect(agg.sweep(1500)).toEqual({ series: [{ name: "lag", key: 'service="billing"' }], families: ["lag"], isolates: [] });
    expect(agg.sweep(6000)).toEqual({ series: [], families: [], isolates: ["isolate-a"] });
    expect(agg.size).toBe(1);
    expect(agg.families().map((f) => [f.name, f.samples.length])).toEqual([["req_total", 1]]);
  });

  it("drops counters and histograms no batch carried within the idle TTL, and keeps those still sent", () => {
    const agg = new MetricsAggregate({ idleTtlMs: 1000 });
    const hist: MetricFamily = {
      type: "histogram",
      name: "lat_seconds",
      help: "Latency",
      buckets: [1],
      samples: [{ labels: {}, counts: [1], sum: 0.5, count: 1 }],
    };
    agg.accept(batch("isolate-a", 1, [counter(1, { route: "/once" }), counter(1, { route: "/busy" }), hist]), 0);
    agg.accept(batch("isolate-a", 2, [counter(1, { route: "/busy" })]), 800);
    expect(agg.sweep(1000)).toEqual({ series: [], families: [], isolates: [] });
    expect(agg.sweep(1500)).toEqual({
      series: [
        { name: "req_total", key: 'route="/once",service="billing"' },
        { name: "lat_seconds", key: 'service="billing"' },
      ],
      families: ["lat_seconds"],
      isolates: [],
    });
    expect(agg.families()).toEqual([counter(2, { route: "/busy", service: "billing" })]);
  });

  it("gives each service its own share of series: one service at its cap leaves room for the others (a leaked service token)", () => {
    const agg = new MetricsAggregate({ maxSeries: 10, maxSeriesPerService: 3 });
    const flood = Array.from({ length: 9 }, (_, i) => counter(1, { route: `/${i}` }));
    expect(agg.accept(batch("isolate-m", 1, flood, "mallory"), 0)).toMatchObject({ dropped: 6 });
    expect(agg.accept(batch("isolate-m", 2, [counter(4, { route: "/0" })], "mallory"), 0)).toMatchObject({ dropped: 0 });
    expect(agg.accept(batch("isolate-b", 1, [counter(1, { route: "/x" }), counter(1, { route: "/y" })]), 0)).toMatchObject({ dropped: 0 });
    expect([agg.ownedBy("mallory"), agg.ownedBy("billing"), agg.size]).toEqual([3, 2, 5]);
    expect(agg.families()[0]?.samples.find((s) => s.labels.route === "/0")).toEqual({
      labels: { route: "/0", service: "mallory" },
      value: 5,
    });
  });

  it("creates no family from an empty delta or from series all refused, so families stay within the caps too", () => {
    const agg = new MetricsAggregate({ maxSeriesPerService: 1 });
    agg.accept(batch("isolate-a", 1, [counter(1), { type: "gauge", name: "empty", help: "", samples: [] }]), 0);
    const refused = agg.accept(batch("isolate-a", 2, [{ ...counter(1), name: "other_total" }]), 0);
    expect(refused).toMatchObject({ families: [], series: [], dropped: 1 });
    expect(agg.families().map((f) => f.name)).toEqual(["req_total"]);
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

  it("restores each series' owner and last update, so the shares and the idle sweep hold across restarts", () => {
    const agg = new MetricsAggregate({ maxSeriesPerService: 1, idleTtlMs: 1000 });
    const first = agg.accept(batch("isolate-a", 1, [counter(3)]), 10);
    if (first.duplicate) throw new Error("unexpected duplicate");
    expect(first.series).toMatchObject([{ name: "req_total", key: 'route="/x",service="billing"', owner: "billing", updatedAt: 10 }]);
    const restored = new MetricsAggregate({ maxSeriesPerService: 1, idleTtlMs: 1000 });
    restored.load(first.families, first.series, [first.source]);
    expect(restored.accept(batch("isolate-a", 2, [counter(1, { route: "/y" })]), 20)).toMatchObject({ dropped: 1 });
    expect(restored.sweep(1011).series).toEqual([{ name: "req_total", key: 'route="/x",service="billing"' }]);
    expect(restored.ownedBy("billing")).toBe(0);
  });

  it("forgets the series whose labels match (a deleted stream's) and the families left empty, and frees their share", () => {
    const agg = new MetricsAggregate({ maxSeriesPerService: 3 });
    const published = (stream: string): MetricFamily => ({ ...counter(1, { stream }), name: "published_total" });
    agg.accept(batch("a", 1, [published("orders"), published("orders~1"), published("audit")]), 0);
    expect(agg.forget({ stream: ["orders"], group: ["g"] }).series).toEqual([]);
    const gone = agg.forget({ stream: ["orders", "orders~1"] });
    expect(gone.series).toHaveLength(2);
    expect(gone.families).toEqual([]);
    expect(agg.ownedBy("billing")).toBe(1);
    expect(agg.families().flatMap((f) => f.samples.map((s) => s.labels.stream))).toEqual(["audit"]);
    expect(agg.forget({ stream: ["audit"] }).families).toEqual(["published_total"]);
    expect(agg.families()).toEqual([]);
    expect(agg.forget({ stream: ["nothing"] }).series).toEqual([]);
    expect(agg.forget({}).series).toEqual([]);
  });
});
