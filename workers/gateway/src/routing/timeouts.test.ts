import { describe, expect, it } from "vitest";
import { DEFAULT_UPSTREAM_TIMEOUT_MS, parseTimeouts, timeoutFor } from "./timeouts.ts";

describe("upstream timeouts", () => {
  it("defaults to 10 s when nothing is configured", () => {
    expect(parseTimeouts({})).toEqual({ defaultMs: DEFAULT_UPSTREAM_TIMEOUT_MS, perService: {} });
    expect(timeoutFor(parseTimeouts({ UPSTREAM_TIMEOUT_MS: "", UPSTREAM_TIMEOUTS: "" }), "example")).toBe(DEFAULT_UPSTREAM_TIMEOUT_MS);
  });

  it("takes the configured default, and a service's own timeout over it", () => {
    const vars = { UPSTREAM_TIMEOUT_MS: "2500", UPSTREAM_TIMEOUTS: '{"reports": 30000}' };
    expect(timeoutFor(parseTimeouts(vars), "example")).toBe(2500);
    expect(timeoutFor(parseTimeouts(vars), "reports")).toBe(30_000);
  });

  it("does not mistake inherited object properties for services", () => {
    expect(timeoutFor(parseTimeouts({ UPSTREAM_TIMEOUT_MS: "2500", UPSTREAM_TIMEOUTS: "{}" }), "constructor")).toBe(2500);
  });

  it("refuses invalid configurations with a clear message", () => {
    expect(() => parseTimeouts({ UPSTREAM_TIMEOUT_MS: "-1" })).toThrow(/UPSTREAM_TIMEOUT_MS/);
    expect(() => parseTimeouts({ UPSTREAM_TIMEOUT_MS: "soon" })).toThrow(/UPSTREAM_TIMEOUT_MS/);
    expect(() => parseTimeouts({ UPSTREAM_TIMEOUTS: "{" })).toThrow(/JSON object/);
    expect(() => parseTimeouts({ UPSTREAM_TIMEOUTS: '{"Bad_Name": 10}' })).toThrow(/UPSTREAM_TIMEOUTS/);
    expect(() => parseTimeouts({ UPSTREAM_TIMEOUTS: '{"reports": 0}' })).toThrow(/UPSTREAM_TIMEOUTS/);
  });
});
