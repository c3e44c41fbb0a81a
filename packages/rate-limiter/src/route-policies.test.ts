import { describe, expect, it } from "vitest";
import { clientIdentity, matchingPolicies, parseRoutePolicies } from "./route-policies.ts";

const config = JSON.stringify([
  {
    name: "writes",
    path: "/api/foundation/",
    methods: ["POST", "PUT"],
    policy: { algorithm: "token-bucket", limit: 10, refillPerSecond: 5 },
    failMode: "closed",
  },
  { name: "all", path: "/api/", policy: { algorithm: "sliding-window", limit: 100, windowMs: 60000 }, failMode: "open" },
]);

describe("route policies", () => {
  it("applies every policy whose path prefix and method match", () => {
    const policies = parseRoutePolicies(config);
    expect(matchingPolicies(policies, "POST", "/api/foundation/services").map((p) => p.name)).toEqual(["writes", "all"]);
    expect(matchingPolicies(policies, "GET", "/api/foundation/services").map((p) => p.name)).toEqual(["all"]);
    expect(matchingPolicies(policies, "GET", "/health")).toEqual([]);
  });

  it("counts verified subjects by subject and everyone else by IP", () => {
    expect(clientIdentity("svc", "203.0.113.1")).toBe("sub:svc");
    expect(clientIdentity(undefined, "203.0.113.1")).toBe("ip:203.0.113.1");
    expect(clientIdentity(undefined, undefined)).toBe("ip:unknown");
  });

  it("refuses broken configuration loudly", () => {
    expect(() => parseRoutePolicies("[{")).toThrow(/not valid JSON/);
    expect(() =>
      parseRoutePolicies(
        JSON.stringify([{ name: "x", path: "/", policy: { algorithm: "fixed-window", limit: 0, windowMs: 1 }, failMode: "open" }]),
      ),
    ).toThrow(/invalid/);
    expect(() =>
      parseRoutePolicies(JSON.stringify([{ name: "x", path: "/", policy: { algorithm: "fixed-window", limit: 1, windowMs: 1 } }])),
    ).toThrow(/failMode/);
  });

  it("refuses a cost above one shard's share of a sharded limit", () => {
    const route = (cost: number) =>
      JSON.stringify([
        { name: "x", path: "/", policy: { algorithm: "fixed-window", limit: 10, windowMs: 1000, shards: 4 }, failMode: "open", cost },
      ]);
    expect(parseRoutePolicies(route(2))[0]?.cost).toBe(2);
    expect(() => parseRoutePolicies(route(3))).toThrow(/cost/);
  });
});
