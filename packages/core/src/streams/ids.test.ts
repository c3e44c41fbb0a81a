import { describe, expect, it } from "vitest";
import { compareStreamIds, isBefore, splitStreamId, streamIdMs } from "./ids.ts";

describe("stream ids", () => {
  it("splits an id into its time and sequence, and reads the time alone the same way", () => {
    for (const [id, ms, seq] of [
      ["1700000000000-3", 1_700_000_000_000, 3],
      ["0-1", 0, 1],
      ["1700000000000", 1_700_000_000_000, 0],
    ] as const) {
      expect(splitStreamId(id)).toEqual({ ms, seq });
      expect(streamIdMs(id)).toBe(ms);
    }
  });

  it("orders ids by time, then by sequence, numerically rather than as text", () => {
    expect(isBefore("1-5", "2-0")).toBe(true);
    expect(isBefore("2-0", "1-5")).toBe(false);
    expect(isBefore("9-0", "10-0")).toBe(true);
    expect(isBefore("5-9", "5-10")).toBe(true);
    expect(isBefore("5-1", "5-1")).toBe(false);
    expect(["10-0", "9-1", "9-0"].sort(compareStreamIds)).toEqual(["9-0", "9-1", "10-0"]);
  });
});
