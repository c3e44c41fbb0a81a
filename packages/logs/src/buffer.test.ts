import { describe, expect, it } from "vitest";
import { LogBuffer } from "./buffer.ts";
import type { LogEntry } from "./entry.ts";

const lines = (n: number, from = 0): LogEntry[] =>
  Array.from({ length: n }, (_, i) => ({
    ts: from + i,
    service: "s",
    level: "info",
    msg: `m${from + i}`,
    correlationIds: [],
    traceId: null,
    fields: {},
  }));

describe("LogBuffer", () => {
  const policy = { intervalMs: 1000, batchSize: 3, maxLines: 5 };

  it("is due once the first waiting line is intervalMs old, or at once when a batch is full", () => {
    const b = new LogBuffer(policy);
    expect(b.dueIn(0)).toBeUndefined();
    b.add(lines(1), 100);
    expect([b.dueIn(100), b.dueIn(600), b.due(1100)]).toEqual([1000, 500, true]);
    b.add(lines(2, 1), 200);
    expect(b.dueIn(200)).toBe(0);
  });

  it("hands out batches oldest first and drops what does not fit, answering how many", () => {
    const b = new LogBuffer(policy);
    expect(b.add(lines(4), 0)).toBe(0);
    expect(b.add(lines(3, 4), 0)).toBe(2);
    expect(b.take().map((e) => e.msg)).toEqual(["m0", "m1", "m2"]);
    expect(b.take().map((e) => e.msg)).toEqual(["m3", "m4"]);
    expect([b.size, b.dueIn(0)]).toEqual([0, undefined]);
  });
});
