import { describe, expect, it } from "vitest";
import { childSpan, formatTraceparent, parseTraceparent } from "./trace-context.ts";

const SAMPLE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

describe("trace context", () => {
  it("reads a valid traceparent and writes it back the same", () => {
    const t = parseTraceparent(SAMPLE);
    expect(t).toEqual({ traceId: "4bf92f3577b34da6a3ce929d0e0e4736", spanId: "00f067aa0ba902b7", flags: "01" });
    expect(formatTraceparent(t ?? childSpan(undefined))).toBe(SAMPLE);
  });

  it("refuses malformed, all-zero and unknown-version values", () => {
    for (const bad of [
      undefined,
      "",
      "garbage",
      "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
      "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
    ])
      expect(parseTraceparent(bad), String(bad)).toBeUndefined();
  });

  it("continues a trace with a new span, or starts a sampled one", () => {
    const parent = parseTraceparent(SAMPLE);
    const child = childSpan(parent);
    expect(child.traceId).toBe(parent?.traceId);
    expect(child.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(child.spanId).not.toBe(parent?.spanId);
    const fresh = childSpan(undefined);
    expect(fresh.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(fresh.flags).toBe("01");
    expect(parseTraceparent(formatTraceparent(fresh))).toEqual(fresh);
  });
});
