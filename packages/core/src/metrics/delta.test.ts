import { describe, expect, it } from "vitest";
import { metricsDelta } from "./delta.ts";
import { MetricsRegistry } from "./registry.ts";

describe("metricsDelta", () => {
  it("sends what each counter series grew by since the last collection and leaves unchanged ones out", () => {
    const reg = new MetricsRegistry();
    const jobs = reg.counter("jobs_total", "Jobs");
    jobs.inc({ kind: "a" }, 2);
    jobs.inc({ kind: "b" });
    const first = reg.collect();
    expect(metricsDelta(first, [])).toEqual([
      {
        type: "counter",
        name: "jobs_total",
        help: "Jobs",
        samples: [
          { labels: { kind: "a" }, value: 2 },
          { labels: { kind: "b" }, value: 1 },
        ],
      },
    ]);
    jobs.inc({ kind: "a" }, 3);
    expect(metricsDelta(reg.collect(), first)).toEqual([
      { type: "counter", name: "jobs_total", help: "Jobs", samples: [{ labels: { kind: "a" }, value: 3 }] },
    ]);
  });

  it("sends nothing when nothing changed", () => {
    const reg = new MetricsRegistry();
    reg.counter("jobs_total", "Jobs").inc();
    reg.histogram("lat_seconds", "Latency", [1]).observe({}, 0.5);
    reg.gauge("depth", "Depth").set({}, 3);
    const snapshot = reg.collect();
    expect(metricsDelta(reg.collect(), snapshot)).toEqual([]);
  });

  it("subtracts histogram buckets, sum and count bucket by bucket", () => {
    const reg = new MetricsRegistry();
    const lat = reg.histogram("lat_seconds", "Latency", [0.1, 1]);
    lat.observe({ route: "/x" }, 0.05);
    const before = reg.collect();
    lat.observe({ route: "/x" }, 0.5);
    lat.observe({ route: "/x" }, 5);
    const [family] = metricsDelta(reg.collect(), before);
    expect(family).toEqual({
      type: "histogram",
      name: "lat_seconds",
      help: "Latency",
      buckets: [0.1, 1],
      samples: [{ labels: { route: "/x" }, counts: [0, 1], sum: 5.5, count: 2 }],
    });
  });

  it("sends a gauge again only when it was set since, with the time it was set", () => {
    const reg = new MetricsRegistry();
    const depth = reg.gauge("depth", "Depth");
    depth.set({ q: "a" }, 4);
    depth.set({ q: "b" }, 1);
    const before = reg.collect();
    depth.set({ q: "a" }, 9);
    const [family] = metricsDelta(reg.collect(), before);
    expect(family?.samples).toEqual([{ labels: { q: "a" }, value: 9, at: expect.any(Number) as number }]);
  });
});
