import { describe, expect, it } from "vitest";
import type { BreakerPolicy } from "./circuit-breaker.ts";
import type { OutlierPolicy } from "./outlier-detection.ts";
import { UpstreamPool, type PoolEvent } from "./upstream-pool.ts";

const breaker: BreakerPolicy = {
  failureRateThreshold: 0.5,
  minimumCalls: 4,
  windowMs: 10_000,
  openMs: 5_000,
  halfOpenProbes: 1,
  probeTimeoutMs: 1_000,
};
const outlier: OutlierPolicy = {
  consecutiveFailures: 3,
  baseEjectionMs: 30_000,
  maxEjectionMs: 300_000,
  maxEjectionPercent: 50,
  multiplierDecayMs: 10_000,
};
const a = { key: "url:https://a.example.com/" };
const b = { key: "url:https://b.example.com/" };

/** Sends one call through the pool at `now`; `fails` says which instances answer with a failure. */
function send(pool: UpstreamPool, targets: { key: string }[], now: number, fails: Set<string>, events: PoolEvent[] = []): string | null {
  const pick = pool.pick(targets, now);
  events.push(...pick.events);
  if (!pick.target) return null;
  events.push(...pool.report(pick.lease, fails.has(pick.target.key), now));
  return pick.target.key;
}

describe("upstream pool", () => {
  it("takes turns between instances", () => {
    const pool = new UpstreamPool({ breaker, outlier });
    const keys = Array.from({ length: 4 }, (_, i) => send(pool, [a, b], i, new Set()));
    expect(keys).toEqual([a.key, b.key, a.key, b.key]);
  });

  it("ejects an instance after consecutive failures, sends everything to the other, and takes it back after the ejection", () => {
    const pool = new UpstreamPool({ breaker: { ...breaker, minimumCalls: 100 }, outlier });
    const events: PoolEvent[] = [];
    const failing = new Set([a.key]);
    for (let t = 0; t < 6; t++) send(pool, [a, b], t, failing, events);
    expect(events).toEqual([{ kind: "ejected", key: a.key, until: 4 + 30_000, ejections: 1 }]);
    expect(pool.inspect(a.key, 10)).toEqual({ breaker: "closed", ejected: true });
    const during = Array.from({ length: 4 }, (_, i) => send(pool, [a, b], 100 + i, new Set()));
    expect(during).toEqual([b.key, b.key, b.key, b.key]);
    const after = Array.from({ length: 4 }, (_, i) => send(pool, [a, b], 30_004 + i, new Set()));
    expect(after.sort()).toEqual([a.key, a.key, b.key, b.key]);
  });

  it("never ejects more than the budget: with both of two instances failing, one stays in the rotation", () => {
    const pool = new UpstreamPool({ breaker: { ...breaker, minimumCalls: 100 }, outlier });
    const both = new Set([a.key, b.key]);
    for (let t = 0; t < 20; t++) send(pool, [a, b], t, both);
    expect([pool.inspect(a.key, 20).ejected, pool.inspect(b.key, 20).ejected].sort()).toEqual([false, true]);
  });

  it("skips an instance whose breaker is open and answers when one may be tried again once none admits a call", () => {
    const pool = new UpstreamPool({ breaker, outlier: { ...outlier, consecutiveFailures: 1000 } });
    const events: PoolEvent[] = [];
    for (let t = 0; t < 8; t++) send(pool, [a], t, new Set([a.key]), events);
    expect(events).toContainEqual({ kind: "breaker", key: a.key, from: "closed", to: "open" });
    const refused = pool.pick([a], 100);
    expect(refused).toMatchObject({ target: null, retryAt: 3 + breaker.openMs });
    const probe = pool.pick([a], 3 + breaker.openMs);
    expect(probe.target).toBe(a);
    expect(probe.events).toEqual([{ kind: "breaker", key: a.key, from: "open", to: "half-open" }]);
  });

  it("answers when the earliest ejected instance comes back when every instance is out", () => {
    const pool = new UpstreamPool({ breaker: { ...breaker, minimumCalls: 100 }, outlier });
    for (let t = 0; t < 3; t++) send(pool, [a], t, new Set([a.key]));
    expect(pool.pick([a], 10)).toMatchObject({ target: null, retryAt: 2 + 30_000 });
  });

  it("never picks an excluded instance (one a retry already tried)", () => {
    const pool = new UpstreamPool({ breaker, outlier });
    expect(pool.pick([a, b], 0, new Set([a.key])).target).toBe(b);
    expect(pool.pick([a, b], 0, new Set([a.key, b.key]))).toMatchObject({ target: null, retryAt: 0 });
  });

  it("forgets instances that left the service", () => {
    const pool = new UpstreamPool({ breaker: { ...breaker, minimumCalls: 100 }, outlier });
    for (let t = 0; t < 6; t++) send(pool, [a, b], t, new Set([a.key]));
    expect(pool.inspect(a.key, 10).ejected).toBe(true);
    send(pool, [b], 10, new Set());
    expect(pool.inspect(a.key, 10).ejected).toBe(false);
  });
});
