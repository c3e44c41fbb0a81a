import { describe, expect, it } from "vitest";
import { nextScanPage, REPLAY_SCAN_BYTES, REPLAY_SCAN_ENTRIES } from "./replay.ts";

const budget = { bytes: REPLAY_SCAN_BYTES, entries: REPLAY_SCAN_ENTRIES };

describe("nextScanPage (the work of a replay filtered by subject)", () => {
  it("starts small, so a page of the largest events stays near the byte budget", () => {
    expect(nextScanPage({ bytes: 0, entries: 0 }, budget)).toBe(20);
    expect(20 * 64 * 1024).toBeLessThan(2 * REPLAY_SCAN_BYTES);
  });

  it("sizes later pages from the bytes per entry seen so far", () => {
    expect(nextScanPage({ bytes: 20 * 200, entries: 20 }, budget)).toBe(500);
    expect(nextScanPage({ bytes: 10 * 50_000, entries: 10 }, budget)).toBe(10);
    expect(nextScanPage({ bytes: REPLAY_SCAN_BYTES - 10, entries: 20 }, budget)).toBe(1);
  });

  it("stops at the entry budget", () => {
    expect(nextScanPage({ bytes: 100, entries: REPLAY_SCAN_ENTRIES - 3 }, budget)).toBe(3);
    expect(nextScanPage({ bytes: 100, entries: REPLAY_SCAN_ENTRIES }, budget)).toBe(0);
  });
});
