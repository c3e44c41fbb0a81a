import { describe, expect, it } from "vitest";
import type { Decision } from "./algorithms/index.ts";
import { LeaseCache, leaseEnd, MAX_LEASE_MS, type Lease } from "./leases.ts";

const T0 = 1_700_000_000_000;

function clock(start = T0) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

/** The object granting `granted` units for `leaseMs`, with `remaining` left after them. */
function lease(granted: number, remaining: number, leaseMs = MAX_LEASE_MS, retryAfterMs = 0): Lease {
  return { allowed: granted > 0, limit: 100, remaining, resetMs: 60_000, retryAfterMs, granted, leaseMs };
}

const allowedCount = (decisions: (Decision | undefined)[]) => decisions.filter((d) => d?.allowed).length;

describe("leaseEnd", () => {
  it("ends a window's lease with its aligned window, at most MAX_LEASE_MS away", () => {
    const fixed = { algorithm: "fixed-window", limit: 1000, windowMs: 60_000, reserve: 10 } as const;
    expect(leaseEnd(fixed, 59_700)).toBe(60_000);
    expect(leaseEnd(fixed, 60_000)).toBe(60_000 + MAX_LEASE_MS);
    expect(leaseEnd({ ...fixed, algorithm: "sliding-window" }, 119_999)).toBe(120_000);
  });

  it("gives a token bucket's lease MAX_LEASE_MS", () => {
    expect(leaseEnd({ algorithm: "token-bucket", limit: 100, refillPerSecond: 10, reserve: 5 }, 123)).toBe(123 + MAX_LEASE_MS);
  });
});

describe("LeaseCache", () => {
  it("spends a lease's units locally, then asks again", () => {
    const c = clock();
    const leases = new LeaseCache(100, c.now);
    expect(leases.take("k", 1)).toBeUndefined();
    const first = leases.settle("k", lease(10, 50), 1, T0);
    expect(first).toMatchObject({ allowed: true, remaining: 59 });
    const local = Array.from({ length: 10 }, () => leases.take("k", 1));
    expect(allowedCount(local)).toBe(9);
    expect(local[0]).toMatchObject({ allowed: true, remaining: 58, retryAfterMs: 0 });
    expect(local[9]).toBeUndefined();
  });

  it("never spends a unit after its lease ends, measured from when it was asked for", () => {
    const c = clock();
    const leases = new LeaseCache(100, c.now);
    c.advance(100); // the answer arrives 100 ms after the request left
    leases.settle("k", lease(10, 50, 500), 1, T0);
    c.advance(399);
    expect(leases.take("k", 1)?.allowed).toBe(true);
    c.advance(1);
    expect(leases.take("k", 1)).toBeUndefined();
  });

  it("does not split a cost over what is left: a request of 3 with 2 units left asks again", () => {
    const leases = new LeaseCache(100, clock().now);
    leases.settle("k", lease(5, 50), 3, T0);
    expect(leases.take("k", 3)).toBeUndefined();
    expect(leases.take("k", 2)?.allowed).toBe(true);
  });

  it("keeps a running lease's units when a new one arrives, ending with the earlier of the two", () => {
    const c = clock();
    const leases = new LeaseCache(100, c.now);
    leases.settle("k", lease(4, 50, 300), 1, T0); // 3 held until T0 + 300
    const d = leases.settle("k", lease(10, 40, 1000), 1, T0 + 100); // 9 more, ends at T0 + 300 too
    expect(d.remaining).toBe(40 + 12);
    expect(allowedCount(Array.from({ length: 5 }, () => leases.take("k", 1)))).toBe(5);
    c.advance(300);
    expect(leases.take("k", 1)).toBeUndefined();
  });

  it("remembers a refusal until its retry time, for the requests that waited on it", () => {
    const c = clock();
    const leases = new LeaseCache(100, c.now);
    const refused = leases.settle("k", lease(0, 0, 1000, 250), 1, T0);
    expect(refused.allowed).toBe(false);
    c.advance(50);
    expect(leases.take("k", 1)).toMatchObject({ allowed: false, remaining: 0, retryAfterMs: 200 });
    c.advance(200);
    expect(leases.take("k", 1)).toBeUndefined();
  });

  it("keeps the units still held when a refill is refused, and refuses once they are spent", () => {
    const c = clock();
    const leases = new LeaseCache(100, c.now);
    leases.settle("k", lease(4, 0), 1, T0); // 3 held, the quota is now spent
    const refused = leases.settle("k", lease(0, 0, 1000, 250), 0, T0); // the refill finds nothing left
    expect(refused.allowed).toBe(false);
    expect(allowedCount(Array.from({ length: 3 }, () => leases.take("k", 1)))).toBe(3);
    expect(leases.take("k", 1)).toMatchObject({ allowed: false, retryAfterMs: 250 });
  });

  it("tracks one request in flight per key until it settles", async () => {
    const leases = new LeaseCache(100, clock().now);
    let answer: (l: Lease) => void = () => undefined;
    const request = leases.track("k", new Promise<Lease>((resolve) => (answer = resolve)));
    expect(leases.inFlight("k")).toBe(request);
    expect(leases.inFlight("other")).toBeUndefined();
    answer(lease(10, 0));
    await request;
    expect(leases.inFlight("k")).toBeUndefined();
  });

  it("counts the units a running lease still holds, and none once it ended", () => {
    const c = clock();
    const leases = new LeaseCache(100, c.now);
    expect(leases.units("k")).toBe(0);
    leases.settle("k", lease(10, 50, 500), 0, T0); // a refill: no request spends a unit of it
    expect(leases.units("k")).toBe(10);
    leases.take("k", 3);
    expect(leases.units("k")).toBe(7);
    c.advance(500);
    expect(leases.units("k")).toBe(0);
  });

  it("drops the oldest keys past its bound", () => {
    const leases = new LeaseCache(2, clock().now);
    for (const k of ["a", "b", "c"]) leases.settle(k, lease(10, 0), 1, T0);
    expect(leases.size).toBe(2);
    expect(leases.take("a", 1)).toBeUndefined();
    expect(leases.take("c", 1)?.allowed).toBe(true);
  });
});
