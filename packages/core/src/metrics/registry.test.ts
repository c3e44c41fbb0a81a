import { describe, expect, it } from "vitest";
import { labelKey } from "./families.ts";
import { MetricsRegistry } from "./registry.ts";

describe("MetricsRegistry", () => {
  it("renders counters with escaped labels in Prometheus text format", () => {
    const reg = new MetricsRegistry();
    const c = reg.counter("jobs_total", "Jobs run");
    c.inc({ kind: 'a"b\\c\nd' });
    c.inc({ kind: 'a"b\\c\nd' }, 2);
    expect(reg.render()).toBe(
      ["# HELP jobs_total Jobs run", "# TYPE jobs_total counter", 'jobs_total{kind="a\\"b\\\\c\\nd"} 3', ""].join("\n"),
    );
  });

  it("counts and observes through a kept series as through its labels", () => {
    const kept = new MetricsRegistry();
    const looked = new MetricsRegistry();
    const served = kept.counter("served_total", "Served").labels({ route: "/x", status: "200" });
    const latency = kept.histogram("lat_seconds", "Latency", [0.1, 1]).labels({ route: "/x" });
    served.inc();
    served.inc(2);
    latency.observe(0.05);
    latency.observe(5);
    looked.counter("served_total", "Served").inc({ route: "/x", status: "200" }, 3);
    looked.histogram("lat_seconds", "Latency", [0.1, 1]).observe({ route: "/x" }, 0.05);
    looked.histogram("lat_seconds", "Latency", [0.1, 1]).observe({ route: "/x" }, 5);
    expect(kept.render()).toBe(looked.render());
    expect(() => served.inc(-1)).toThrow(RangeError);
  });

  it("refuses to decrease a counter", () => {
    const c = new MetricsRegistry().counter("x_total", "x");
    expect(() => c.inc({}, -1)).toThrow(RangeError);
  });

  it("renders cumulative histogram buckets with +Inf, sum and count", () => {
    const reg = new MetricsRegistry();
    const h = reg.histogram("lat_seconds", "Latency", [0.1, 1]);
    h.observe({ route: "/x" }, 0.05);
    h.observe({ route: "/x" }, 0.5);
    h.observe({ route: "/x" }, 5);
    expect(reg.render().split("\n")).toEqual([
      "# HELP lat_seconds Latency",
      "# TYPE lat_seconds histogram",
      'lat_seconds_bucket{route="/x",le="0.1"} 1',
      'lat_seconds_bucket{route="/x",le="1"} 2',
      'lat_seconds_bucket{route="/x",le="+Inf"} 3',
      'lat_seconds_sum{route="/x"} 5.55',
      'lat_seconds_count{route="/x"} 3',
      "",
    ]);
  });

  it("records a batch of observations like one observe each", () => {
    const one = new MetricsRegistry();
    const many = new MetricsRegistry();
    const values = [0.05, 0.5, 5, 0.1];
    for (const v of values) one.histogram("lat_seconds", "Latency", [0.1, 1]).observe({ route: "/x" }, v);
    many.histogram("lat_seconds", "Latency", [0.1, 1]).observeMany({ route: "/x" }, values);
    many.histogram("lat_seconds", "Latency", [0.1, 1]).observeMany({ route: "/y" }, []);
    expect(many.render()).toBe(one.render());
  });

  it("returns the same metric for the same name and rejects a type clash", () => {
    const reg = new MetricsRegistry();
    expect(reg.counter("a_total", "a")).toBe(reg.counter("a_total", "a"));
    expect(() => reg.gauge("a_total", "a")).toThrow(TypeError);
    expect(() => reg.counter("bad-name", "x")).toThrow(RangeError);
  });

  it("sorts label names so the same labels in another order are one series", () => {
    const c = new MetricsRegistry().counter("s_total", "s");
    c.inc({ a: "1", b: "2" });
    c.inc({ b: "2", a: "1" });
    expect(c.get({ a: "1", b: "2" })).toBe(2);
  });

  it("rejects histogram buckets that do not increase", () => {
    expect(() => new MetricsRegistry().histogram("h", "h", [1, 1])).toThrow(RangeError);
  });

  it("collects a copy of every metric that later changes do not alter", () => {
    const reg = new MetricsRegistry();
    const c = reg.counter("c_total", "c");
    const h = reg.histogram("h_seconds", "h", [1]);
    c.inc({ a: "1" });
    h.observe({}, 0.5);
    reg.gauge("g", "g").set({}, 2);
    const snapshot = reg.collect();
    c.inc({ a: "1" });
    h.observe({}, 0.5);
    expect(snapshot).toEqual([
      { type: "counter", name: "c_total", help: "c", samples: [{ labels: { a: "1" }, value: 1 }] },
      { type: "histogram", name: "h_seconds", help: "h", buckets: [1], samples: [{ labels: {}, counts: [1], sum: 0.5, count: 1 }] },
      { type: "gauge", name: "g", help: "g", samples: [{ labels: {}, value: 2, at: expect.any(Number) as number }] },
    ]);
  });
});

describe("labelKey", () => {
  it("names a series the same whatever order its labels come in, escaping only what needs it", () => {
    expect(labelKey({ route: "/a", method: "GET", status: "200" })).toBe('method="GET",route="/a",status="200"');
    expect(labelKey({ method: "GET", route: "/a", status: "200" })).toBe('method="GET",route="/a",status="200"');
    expect(labelKey({ b: 'say "hi"\n', a: "back\\slash" })).toBe('a="back\\\\slash",b="say \\"hi\\"\\n"');
    expect(labelKey({})).toBe("");
  });
});
