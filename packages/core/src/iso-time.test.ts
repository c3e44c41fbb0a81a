import { describe, expect, it } from "vitest";
import { isoTime } from "./iso-time.ts";

describe("isoTime", () => {
  it("writes what toISOString writes, across seconds, minutes, days and years", () => {
    const times = [0, 1, 9, 10, 99, 100, 999, 1000, 59_999, 60_000, 60_001, 86_399_999, 86_400_000, 951_782_400_000, 1_796_218_171_837];
    for (let i = 0; i < 2000; i++) times.push(Math.floor(Math.random() * 4_102_444_800_000));
    // Out of the cached form: before 1970, from the year 10000 on, not whole milliseconds.
    times.push(-1, -86_400_001, 253_402_300_799_999, 253_402_300_800_000, 1.5);
    for (const ms of times) expect(isoTime(ms), String(ms)).toBe(new Date(ms).toISOString());
  });

  it("is right again after the minute changes back", () => {
    expect(isoTime(120_500)).toBe("1970-01-01T00:02:00.500Z");
    expect(isoTime(61_000)).toBe("1970-01-01T00:01:01.000Z");
    expect(isoTime(120_501)).toBe("1970-01-01T00:02:00.501Z");
  });
});
