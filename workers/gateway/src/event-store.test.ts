import { describe, expect, it } from "vitest";
import { splitStreamId, streamIdMs } from "./event-store.ts";

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
});
