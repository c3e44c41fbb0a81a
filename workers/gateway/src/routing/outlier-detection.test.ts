import { describe, expect, it } from "vitest";
import { ejectionBudget, HEALTHY, isEjected, recordOutcome, type OutlierPolicy, type OutlierState } from "./outlier-detection.ts";

const policy: OutlierPolicy = {
  consecutiveFailures: 3,
  baseEjectionMs: 1_000,
  maxEjectionMs: 2_500,
  maxEjectionPercent: 50,
  multiplierDecayMs: 10_000,
};

const fail = (s: OutlierState, now: number, times: number, mayEject = true) =>
  Array.from({ length: times }).reduce<OutlierState>((acc) => recordOutcome(acc, true, now, policy, mayEject), s);

describe("outlier detection", () => {
  it("ejects after N consecutive failures for the base ejection time", () => {
    const s = fail(HEALTHY, 0, 3);
    expect(s).toEqual({ consecutiveFailures: 0, ejectedUntil: 1_000, ejections: 1 });
    expect(isEjected(s, 999)).toBe(true);
    expect(isEjected(s, 1_000)).toBe(false);
  });

  it("does not eject when a success interrupts the run", () => {
    const s = recordOutcome(fail(HEALTHY, 0, 2), false, 0, policy, true);
    expect(fail(s, 0, 2).ejectedUntil).toBeNull();
  });

  it("ejects for longer each time it is ejected again, up to the maximum", () => {
    const first = fail(HEALTHY, 0, 3);
    const second = fail(first, 1_000, 3);
    expect(second).toMatchObject({ ejectedUntil: 3_000, ejections: 2 });
    const third = fail(second, 3_000, 3);
    expect(third).toMatchObject({ ejectedUntil: 5_500, ejections: 3 });
  });

  it("lowers the multiplier by one for every decay interval spent back in the rotation", () => {
    const twice = fail(fail(HEALTHY, 0, 3), 1_000, 3);
    const later = fail(twice, 3_000 + policy.multiplierDecayMs, 3);
    expect(later.ejections).toBe(2);
    const muchLater = fail(twice, 3_000 + 5 * policy.multiplierDecayMs, 3);
    expect(muchLater.ejections).toBe(1);
  });

  it("ignores outcomes that arrive while ejected", () => {
    const s = fail(HEALTHY, 0, 3);
    expect(recordOutcome(s, true, 500, policy, true)).toBe(s);
    expect(recordOutcome(s, false, 500, policy, true)).toBe(s);
  });

  it("keeps counting but does not eject while the ejection budget is spent", () => {
    const s = fail(HEALTHY, 0, 4, false);
    expect(s).toMatchObject({ consecutiveFailures: 4, ejectedUntil: null });
    expect(isEjected(recordOutcome(s, true, 1, policy, true), 1)).toBe(true);
  });

  it("caps ejections at the share of instances, but always allows one (Envoy's max_ejection_percent)", () => {
    expect(ejectionBudget(1, policy)).toBe(1);
    expect(ejectionBudget(2, policy)).toBe(1);
    expect(ejectionBudget(5, policy)).toBe(2);
    expect(ejectionBudget(10, { ...policy, maxEjectionPercent: 10 })).toBe(1);
    expect(ejectionBudget(3, { ...policy, maxEjectionPercent: 100 })).toBe(3);
  });
});
