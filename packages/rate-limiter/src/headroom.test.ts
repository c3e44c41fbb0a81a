import { describe, expect, it } from "vitest";
import { decide, type LimiterState } from "./algorithms/index.ts";
import { coveredUnits, HEADROOM_AHEAD_MS, headroomCap, headroomFor, HEADROOM_MIN_LIMIT, storeAhead } from "./headroom.ts";
import type { Policy } from "./policy.ts";

const fixed: Policy = { algorithm: "fixed-window", limit: 100_000, windowMs: 60_000 };
const sliding: Policy = { algorithm: "sliding-window", limit: 100_000, windowMs: 60_000 };
const bucket: Policy = { algorithm: "token-bucket", limit: 100_000, refillPerSecond: 1000 };

/** The state after admitting `units` one decision at a time from `start`. */
function spend(policy: Policy, units: number, now: number, start?: LimiterState): LimiterState | undefined {
  let state = start;
  for (let i = 0; i < units; i++) state = decide(state, now, policy, 1).state;
  return state;
}

describe("headroomCap", () => {
  it("is 0.1 % of the limit from HEADROOM_MIN_LIMIT on, 0 below it and for sliding log", () => {
    expect(headroomCap(fixed)).toBe(100);
    expect(headroomCap({ ...fixed, limit: HEADROOM_MIN_LIMIT })).toBe(10);
    expect(headroomCap({ ...fixed, limit: HEADROOM_MIN_LIMIT - 1 })).toBe(0);
    expect(headroomCap({ algorithm: "sliding-log", limit: 1000, windowMs: 1000 })).toBe(0);
  });
});

describe("headroomFor", () => {
  it("stores about HEADROOM_AHEAD_MS of admissions at the recent rate, between 1 and the cap", () => {
    expect(headroomFor(fixed, 10, 100)).toBe(Math.ceil((10 / 100) * HEADROOM_AHEAD_MS));
    expect(headroomFor(fixed, 1, 60_000)).toBe(1);
    expect(headroomFor(fixed, 50_000, 10)).toBe(100);
    expect(headroomFor(fixed, 5, 0)).toBe(100); // a burst within one millisecond
    expect(headroomFor({ ...fixed, limit: 100 }, 50_000, 10)).toBe(0);
  });
});

describe("coveredUnits", () => {
  for (const policy of [fixed, sliding, bucket]) {
    it(`${policy.algorithm}: counts what the stored state spent beyond the truth`, () => {
      const now = 1_000_000;
      const truth = spend(policy, 10, now);
      const stored = decide(truth, now, policy, 40).state;
      expect(coveredUnits(stored, truth, now, policy)).toBe(40);
      expect(coveredUnits(truth, truth, now, policy)).toBe(0);
      expect(coveredUnits(truth, stored, now, policy)).toBe(0); // storage behind the truth covers nothing
      expect(coveredUnits(undefined, truth, now, policy)).toBe(0);
      expect(coveredUnits(stored, undefined, now, policy)).toBe(0);
      // Spending within the cover shrinks it by as much.
      expect(coveredUnits(stored, spend(policy, 15, now, truth), now, policy)).toBe(25);
    });
  }

  it("covers nothing in a window the stored state is not of", () => {
    for (const policy of [fixed, sliding]) {
      const truth = spend(policy, 10, 59_000);
      const stored = decide(truth, 59_000, policy, 40).state;
      expect(coveredUnits(stored, truth, 59_999, policy)).toBe(40);
      expect(coveredUnits(stored, truth, 60_000, policy), policy.algorithm).toBe(0);
      // A truth already in the next window (clock ran back) is not covered by the stored window either.
      expect(coveredUnits(stored, spend(policy, 1, 60_000, truth), 59_999, policy)).toBe(0);
    }
  });

  it("sliding window: covers nothing when the stored previous window counts less than the truth's", () => {
    const truth: LimiterState = { algorithm: "sliding-window", state: { windowStart: 60_000, current: 5, previous: 30 } };
    const stored: LimiterState = { algorithm: "sliding-window", state: { windowStart: 60_000, current: 50, previous: 20 } };
    expect(coveredUnits(stored, truth, 70_000, sliding)).toBe(0);
  });

  it("token bucket: the cover stays while both refill, and shrinks once the truth is full", () => {
    const truth = spend(bucket, 1000, 0);
    const stored = decide(truth, 0, bucket, 500).state;
    expect(coveredUnits(stored, truth, 0, bucket)).toBe(500);
    expect(coveredUnits(stored, truth, 500, bucket)).toBe(500); // both refilled 500 tokens
    expect(coveredUnits(stored, truth, 1250, bucket)).toBe(250); // the truth is full; storage is catching up
    expect(coveredUnits(stored, truth, 10_000, bucket)).toBe(0);
  });

  it("never covers across algorithms", () => {
    const truth = spend(fixed, 10, 0);
    const stored = decide(truth, 0, fixed, 40).state;
    expect(coveredUnits(stored, truth, 0, { ...sliding })).toBe(0);
  });
});

describe("storeAhead", () => {
  it("stores a window's state with the headroom counted, and its decision for the expiry", () => {
    for (const policy of [fixed, sliding]) {
      const result = decide(undefined, 1000, policy, 1);
      const stored = storeAhead(result, 1000, policy, 50);
      expect(coveredUnits(stored.state, result.state, 1000, policy), policy.algorithm).toBe(50);
      expect(stored.decision.remaining).toBe(result.decision.remaining - 50);
    }
  });

  it("stores only as much as the quota has room for, and nothing when it is full", () => {
    const small: Policy = { ...fixed, limit: 10 };
    const result = decide(undefined, 0, small, 7);
    expect(coveredUnits(storeAhead(result, 0, small, 5).state, result.state, 0, small)).toBe(3);
    const full = decide(undefined, 0, small, 10);
    expect(storeAhead(full, 0, small, 5)).toBe(full);
    expect(storeAhead(result, 0, small, 0)).toBe(result);
  });

  it("keeps a token bucket's headroom as a debt, so a full bucket still covers it", () => {
    const result = decide(undefined, 0, bucket, 1);
    const stored = storeAhead(result, 0, bucket, 40);
    expect(stored.state).toEqual({ algorithm: "token-bucket", state: { ...(result.state.state as object), debt: 40 } });
    expect(coveredUnits(stored.state, result.state, 0, bucket)).toBe(40);
    expect(coveredUnits(stored.state, result.state, 60_000, bucket)).toBe(40); // both full again
    // Reloaded from storage after a crash, the bucket has the debt taken.
    expect(decide(stored.state, 60_000, bucket, 1).decision.remaining).toBe(100_000 - 40 - 1);
  });
});
