import { describe, expect, it } from "vitest";
import { acquire, admitsAt, closedBreaker, record, settleBreaker, type BreakerPolicy, type BreakerState } from "./circuit-breaker.ts";

const policy: BreakerPolicy = {
  failureRateThreshold: 0.5,
  minimumCalls: 4,
  windowMs: 10_000,
  openMs: 5_000,
  halfOpenProbes: 2,
  probeTimeoutMs: 1_000,
};

/** Sends one call at `now` with the given outcome; returns the state afterwards and whether it was let through. */
function call(state: BreakerState, now: number, failed: boolean): { state: BreakerState; admitted: boolean } {
  const { state: admittedState, ticket } = acquire(state, now, policy);
  if (!ticket) return { state: admittedState, admitted: false };
  return { state: record(admittedState, ticket, failed, now, policy), admitted: true };
}

/** Runs calls with the given outcomes at one time each, starting at `from`. */
function run(state: BreakerState, from: number, outcomes: boolean[]): BreakerState {
  return outcomes.reduce((s, failed, i) => call(s, from + i, failed).state, state);
}

describe("circuit breaker", () => {
  it("stays closed below the minimum call count, however many of those calls fail", () => {
    expect(run(closedBreaker(), 0, [true, true, true]).kind).toBe("closed");
  });

  it("stays closed while the failure rate is below the threshold", () => {
    expect(run(closedBreaker(), 0, [false, false, true, false, false, true, false]).kind).toBe("closed");
  });

  it("opens once the failure rate reaches the threshold over the minimum call count, and then refuses every call", () => {
    const open = run(closedBreaker(), 0, [false, true, false, true]);
    expect(open).toMatchObject({ kind: "open", until: 3 + policy.openMs });
    expect(call(open, 100, false).admitted).toBe(false);
    expect(admitsAt(open, 100, policy)).toBe(5_003);
  });

  it("forgets failures older than the rolling window", () => {
    const old = run(closedBreaker(), 0, [true, true, true]);
    const later = run(old, 20_000, [false, false, false, true]);
    expect(later.kind).toBe("closed");
  });

  it("goes through the full cycle: closed → open → half-open with exactly N probes → closed", () => {
    let s = run(closedBreaker(), 0, [true, true, true, true]);
    expect(s.kind).toBe("open");
    expect(acquire(s, 4_999, policy).ticket).toBeNull();
    expect(settleBreaker(s, 5_003, policy).kind).toBe("half-open");

    const first = acquire(s, 5_003, policy);
    const second = acquire(first.state, 5_004, policy);
    const third = acquire(second.state, 5_005, policy);
    expect(first.ticket?.probe).toBe(0);
    expect(second.ticket?.probe).toBe(1);
    expect(third.ticket).toBeNull();

    s = record(third.state, first.ticket!, false, 5_010, policy);
    expect(s.kind).toBe("half-open");
    expect(acquire(s, 5_011, policy).ticket).toBeNull();
    s = record(s, second.ticket!, false, 5_020, policy);
    expect(s.kind).toBe("closed");
    expect(call(s, 5_021, false).admitted).toBe(true);
  });

  it("reopens when a probe fails", () => {
    const open = run(closedBreaker(), 0, [true, true, true, true]);
    const probe = acquire(open, 6_000, policy);
    const reopened = record(probe.state, probe.ticket!, true, 6_100, policy);
    expect(reopened).toMatchObject({ kind: "open", until: 6_100 + policy.openMs });
    expect(acquire(reopened, 6_200, policy).ticket).toBeNull();
  });

  it("reopens when a probe hangs past its timeout, from the moment it timed out, and ignores its late answer", () => {
    const open = run(closedBreaker(), 0, [true, true, true, true]);
    const first = acquire(open, 6_000, policy);
    const second = acquire(first.state, 6_000, policy);
    const done = record(second.state, second.ticket!, false, 6_050, policy);
    expect(done.kind).toBe("half-open");
    expect(admitsAt(done, 6_500, policy)).toBe(7_000);
    const hung = settleBreaker(done, 7_000, policy);
    expect(hung).toMatchObject({ kind: "open", until: 7_000 + policy.openMs });
    expect(record(hung, first.ticket!, false, 7_500, policy)).toEqual(hung);
    expect(settleBreaker(done, 12_000, policy).kind).toBe("half-open");
  });

  it("ignores the late outcome of a call let through before the breaker opened", () => {
    const { state, ticket } = acquire(closedBreaker(), 0, policy);
    const open = run(state, 1, [true, true, true, true]);
    expect(open.kind).toBe("open");
    expect(record(open, ticket!, false, 10, policy)).toEqual(open);
  });
});
