import { describe, expect, it } from "vitest";
import { decide, fixedWindow, slidingLog, slidingWindow, tokenBucket, type LimiterState } from "./index.ts";
import type { Policy } from "../policy.ts";

/** Runs `n` decisions at the given times and returns how many were admitted. */
function admitted(policy: Policy, times: number[], cost = 1, start?: LimiterState): { count: number; state: LimiterState | undefined } {
  let state = start;
  let count = 0;
  for (const t of times) {
    const r = decide(state, t, policy, cost);
    state = r.state;
    if (r.decision.allowed) count++;
  }
  return { count, state };
}

const evenly = (n: number, from: number, span: number) => Array.from({ length: n }, (_, i) => from + Math.floor((i * span) / n));

describe("token bucket", () => {
  const p = { limit: 10, refillPerSecond: 5 };

  it("admits a burst up to the capacity, then refuses with the time to one token", () => {
    let s;
    for (let i = 0; i < 10; i++) {
      const r = tokenBucket(s, 0, p, 1);
      expect(r.decision.allowed).toBe(true);
      s = r.state;
    }
    const r = tokenBucket(s, 0, p, 1);
    expect(r.decision).toEqual({ allowed: false, limit: 10, remaining: 0, resetMs: 2000, retryAfterMs: 200 });
  });

  it("refills continuously and never above the capacity", () => {
    const empty = { tokens: 0, updatedAt: 0 };
    expect(tokenBucket(empty, 400, p, 1).decision).toMatchObject({ allowed: true, remaining: 1 });
    expect(tokenBucket(empty, 60_000, p, 1).decision.remaining).toBe(9);
  });

  it("charges a cost above 1 and refuses it until enough tokens exist", () => {
    const r = tokenBucket({ tokens: 2, updatedAt: 0 }, 0, p, 3);
    expect(r.decision).toMatchObject({ allowed: false, retryAfterMs: 200 });
    expect(r.state.tokens).toBe(2);
    expect(tokenBucket(r.state, 200, p, 3).decision.allowed).toBe(true);
  });

  it("refills nothing when the clock goes backwards", () => {
    const r = tokenBucket({ tokens: 0, updatedAt: 10_000 }, 5_000, p, 1);
    expect(r.decision.allowed).toBe(false);
    expect(r.state.updatedAt).toBe(10_000);
  });

  it("caps existing tokens at a lowered capacity", () => {
    const r = tokenBucket({ tokens: 10, updatedAt: 0 }, 0, { limit: 3, refillPerSecond: 5 }, 1);
    expect(r.decision.remaining).toBe(2);
  });

  it("takes a state's debt after the refill is capped, and folds it into the tokens", () => {
    const full = { tokens: 10, updatedAt: 0, debt: 4 };
    const r = tokenBucket(full, 60_000, p, 1);
    expect(r.decision).toMatchObject({ allowed: true, remaining: 5 });
    expect(r.state).toEqual({ tokens: 5, updatedAt: 60_000 });
    expect(tokenBucket({ tokens: 10, updatedAt: 0, debt: 10 }, 0, p, 1).decision).toMatchObject({ allowed: false, retryAfterMs: 200 });
  });

  it("rejects a cost larger than the capacity or not a positive integer", () => {
    expect(() => tokenBucket(undefined, 0, p, 11)).toThrow(RangeError);
    expect(() => tokenBucket(undefined, 0, p, 0)).toThrow(RangeError);
    expect(() => tokenBucket(undefined, 0, p, 1.5)).toThrow(RangeError);
  });
});

describe("fixed window", () => {
  const p = { limit: 3, windowMs: 1000 };

  it("admits the limit per aligned window and says when the window resets", () => {
    let s;
    for (let i = 0; i < 3; i++) s = fixedWindow(s, 100, p, 1).state;
    expect(fixedWindow(s, 999, p, 1).decision).toEqual({ allowed: false, limit: 3, remaining: 0, resetMs: 1, retryAfterMs: 1 });
    expect(fixedWindow(s, 1000, p, 1).decision).toMatchObject({ allowed: true, remaining: 2, resetMs: 1000 });
  });

  it("stays in the newest window when the clock goes backwards", () => {
    const s = { windowStart: 5000, count: 3 };
    expect(fixedWindow(s, 4999, p, 1).decision.allowed).toBe(false);
  });

  it("applies a lowered limit to the current window's count", () => {
    const s = { windowStart: 0, count: 2 };
    expect(fixedWindow(s, 10, { limit: 2, windowMs: 1000 }, 1).decision.allowed).toBe(false);
    expect(fixedWindow(s, 10, { limit: 5, windowMs: 1000 }, 3).decision.allowed).toBe(true);
  });
});

describe("sliding window", () => {
  const p = { limit: 10, windowMs: 1000 };

  it("weights the previous window by its unexpired share", () => {
    const s = { windowStart: 0, current: 10, previous: 0 };
    expect(slidingWindow(s, 1000, p, 1).decision.allowed).toBe(false);
    const at1500 = slidingWindow(s, 1500, p, 1);
    expect(at1500.decision).toMatchObject({ allowed: true, remaining: 4 });
    expect(slidingWindow(s, 2000, p, 10).decision.allowed).toBe(true);
  });

  it("tells how long until the estimate has decayed enough", () => {
    const s = { windowStart: 1000, current: 0, previous: 10 };
    const r = slidingWindow(s, 1000, p, 2);
    expect(r.decision.allowed).toBe(false);
    expect(r.decision.retryAfterMs).toBe(200);
    expect(slidingWindow(s, 1200, p, 2).decision.allowed).toBe(true);
  });

  it("forgets everything after two idle windows", () => {
    expect(slidingWindow({ windowStart: 0, current: 10, previous: 10 }, 2000, p, 10).decision.allowed).toBe(true);
  });
});

describe("sliding log", () => {
  const p = { limit: 3, windowMs: 1000 };

  it("is exact: never more than the limit in any window of windowMs", () => {
    let s;
    const admittedAt: number[] = [];
    for (let t = 0; t < 5000; t += 37) {
      const r = slidingLog(s, t, p, 1);
      s = r.state;
      if (r.decision.allowed) admittedAt.push(t);
    }
    for (const t of admittedAt) expect(admittedAt.filter((u) => u > t - 1000 && u <= t).length).toBeLessThanOrEqual(3);
  });

  it("treats a clock that goes backwards as standing still", () => {
    const s = { entries: [[5000, 3]] as Array<[number, number]> };
    const r = slidingLog(s, 1000, p, 1);
    expect(r.decision).toMatchObject({ allowed: false, retryAfterMs: 1000 });
  });

  it("says exactly when the oldest entries leave the window", () => {
    const s = {
      entries: [
        [100, 1],
        [200, 2],
      ] as Array<[number, number]>,
    };
    expect(slidingLog(s, 500, p, 1).decision).toMatchObject({ allowed: false, retryAfterMs: 600 });
    expect(slidingLog(s, 500, p, 2).decision.retryAfterMs).toBe(700);
  });
});

describe("decide at 0.8× and 1.6× the limit", () => {
  const policies: Policy[] = [
    { algorithm: "fixed-window", limit: 100, windowMs: 1000 },
    { algorithm: "sliding-window", limit: 100, windowMs: 1000 },
    { algorithm: "sliding-log", limit: 100, windowMs: 1000 },
    { algorithm: "token-bucket", limit: 100, refillPerSecond: 100 },
  ];

  for (const policy of policies) {
    it(`${policy.algorithm}: refuses nobody at 0.8× over three windows`, () => {
      const { count } = admitted(policy, evenly(240, 0, 3000));
      expect(count).toBe(240);
    });

    it(`${policy.algorithm}: never admits more than the limit per window at 1.6×`, () => {
      const times = evenly(480, 0, 3000);
      let state: LimiterState | undefined;
      const perWindow = [0, 0, 0];
      for (const t of times) {
        const r = decide(state, t, policy, 1);
        state = r.state;
        if (r.decision.allowed) perWindow[Math.floor(t / 1000)]! += 1;
      }
      const cap = policy.algorithm === "token-bucket" ? 200 : 100;
      for (const n of perWindow) expect(n).toBeLessThanOrEqual(cap);
      expect(perWindow.reduce((a, b) => a + b)).toBeGreaterThanOrEqual(policy.algorithm === "token-bucket" ? 299 : 280);
    });
  }

  it("starts afresh when a key's policy switches algorithm", () => {
    const { state } = admitted({ algorithm: "fixed-window", limit: 1, windowMs: 1000 }, [0]);
    expect(decide(state, 0, { algorithm: "sliding-log", limit: 1, windowMs: 1000 }, 1).decision.allowed).toBe(true);
  });
});
