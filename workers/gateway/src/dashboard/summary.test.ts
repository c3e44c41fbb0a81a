import { describe, expect, it } from "vitest";
import type { MetricFamily } from "@foundation/core";
import { sumBy } from "./summary.ts";

const requests: MetricFamily = {
  type: "counter",
  name: "foundation_http_requests_total",
  help: "",
  samples: [
    { labels: { service: "gateway", route: "/a", status: "500" }, value: 2 },
    { labels: { service: "gateway", route: "/a", status: "503" }, value: 3 },
    { labels: { service: "gateway", route: "/a", status: "200" }, value: 90 },
    { labels: { service: "example", route: "/b", status: "502" }, value: 7 },
    { labels: { service: "example", route: "/c", status: "500" }, value: 0 },
  ],
};

describe("dashboard snapshot", () => {
  it("sums a counter by the labels kept, over the series matched, largest first, leaving zeros out", () => {
    expect(sumBy([requests], "foundation_http_requests_total", ["service", "route"], (l) => l.status?.startsWith("5") ?? false)).toEqual([
      { labels: { service: "example", route: "/b" }, value: 7 },
      { labels: { service: "gateway", route: "/a" }, value: 5 },
    ]);
    expect(sumBy([requests], "other_total", ["service"], () => true)).toEqual([]);
  });
});
