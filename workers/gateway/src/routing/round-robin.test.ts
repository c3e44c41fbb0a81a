import { describe, expect, it } from "vitest";
import { roundRobin } from "./round-robin.ts";

describe("round robin", () => {
  it("cycles through every slot in order", () => {
    const picks: number[] = [];
    let cursor = 0;
    for (let i = 0; i < 6; i++) {
      const slot = roundRobin(cursor, 3, () => true);
      picks.push(slot);
      cursor = slot + 1;
    }
    expect(picks).toEqual([0, 1, 2, 0, 1, 2]);
  });

  it("skips ineligible slots and wraps around", () => {
    expect(roundRobin(1, 3, (i) => i !== 1)).toBe(2);
    expect(roundRobin(2, 3, (i) => i === 0)).toBe(0);
  });

  it("returns -1 when nothing is eligible or there is nothing to pick", () => {
    expect(roundRobin(0, 3, () => false)).toBe(-1);
    expect(roundRobin(0, 0, () => true)).toBe(-1);
  });

  it("keeps working when the cursor is past the end, as after an instance left", () => {
    expect(roundRobin(7, 2, () => true)).toBe(1);
  });
});
