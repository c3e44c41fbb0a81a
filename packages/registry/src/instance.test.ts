import { describe, expect, it } from "vitest";
import {
  deregister,
  expiresAt,
  heartbeat,
  heartbeatIntervalSeconds,
  isPassing,
  isRoutable,
  nextTransitionAt,
  register,
  settle,
  viewAt,
  type Instance,
  type Registration,
} from "./instance.ts";

const T0 = 1_000_000;
const reg: Registration = {
  service: "billing",
  url: "https://billing.example.com/",
  version: "1.0.0",
  metadata: { zone: "a" },
  ttlMs: 10_000,
  deregisterAfterMs: 600_000,
};
const fresh = (): Instance => register(undefined, reg, "i-1", T0, 1).instance;

describe("register", () => {
  it("creates a passing instance and records the registration", () => {
    const t = register(undefined, reg, "i-1", T0, 1);
    expect(t.instance).toMatchObject({
      id: "i-1",
      status: "passing",
      registeredAt: T0,
      lastHeartbeatAt: T0,
      criticalSince: null,
      revision: 1,
    });
    expect(t.changes).toEqual([expect.objectContaining({ from: null, to: "passing", reason: "registered", at: T0 })]);
  });

  it("refreshes an existing instance under its ID and brings a critical one back", () => {
    const expired = settle(fresh(), T0 + 20_000).instance;
    const t = register(expired, { ...reg, version: "1.1.0" }, "i-2", T0 + 20_000, 3);
    expect(t.instance).toMatchObject({
      id: "i-1",
      version: "1.1.0",
      status: "passing",
      lastHeartbeatAt: T0 + 20_000,
      criticalSince: null,
      registeredAt: T0,
    });
    expect(t.changes.map((c) => [c.from, c.to])).toEqual([["critical", "passing"]]);
  });
});

describe("TTL and deregistration (Consul's model)", () => {
  it("keeps the instance passing until its TTL and marks it critical from the moment the TTL ran out", () => {
    const i = fresh();
    expect(settle(i, T0 + 9_999).changes).toEqual([]);
    expect(isRoutable(i, T0 + 9_999)).toBe(true);
    const late = settle(i, T0 + 15_000);
    expect(late.instance).toMatchObject({ status: "critical", criticalSince: T0 + 10_000 });
    expect(late.changes).toEqual([expect.objectContaining({ from: "passing", to: "critical", reason: "ttl-expired", at: T0 + 10_000 })]);
    expect(late.deregisteredAt).toBeNull();
    expect(isRoutable(i, T0 + 10_000)).toBe(false);
  });

  it("deregisters only once the deregister delay after the TTL has passed", () => {
    const i = fresh();
    const limit = T0 + 10_000 + 600_000;
    expect(settle(i, limit - 1).deregisteredAt).toBeNull();
    const gone = settle(i, limit);
    expect(gone.deregisteredAt).toBe(limit);
    expect(gone.changes.map((c) => c.to)).toEqual(["critical", "deregistered"]);
    expect(viewAt(i, limit)).toBeNull();
  });

  it("is idempotent: settling a settled instance at the same time changes nothing", () => {
    const once = settle(fresh(), T0 + 30_000).instance;
    const twice = settle(once, T0 + 30_000);
    expect(twice.instance).toEqual(once);
    expect(twice.changes).toEqual([]);
  });

  it("lets a late heartbeat bring a critical instance back, recording both transitions", () => {
    const t = heartbeat(fresh(), {}, T0 + 30_000, 2);
    expect(t.instance).toMatchObject({ status: "passing", criticalSince: null, lastHeartbeatAt: T0 + 30_000, output: null });
    expect(t.changes.map((c) => [c.from, c.to, c.reason])).toEqual([
      ["passing", "critical", "ttl-expired"],
      ["critical", "passing", "heartbeat"],
    ]);
  });

  it("keeps criticalSince while an instance keeps reporting critical, so its deregistration is not postponed", () => {
    const first = heartbeat(fresh(), { status: "critical", output: "db down" }, T0 + 1_000, 2).instance;
    const second = heartbeat(first, { status: "critical", output: "db still down" }, T0 + 5_000, 3);
    expect(second.instance).toMatchObject({ status: "critical", criticalSince: T0 + 1_000, output: "db still down" });
    expect(second.changes).toEqual([]);
    expect(settle(second.instance, T0 + 1_000 + 600_000).deregisteredAt).toBe(T0 + 601_000);
  });

  it("treats warning as routable but not passing", () => {
    const warn = heartbeat(fresh(), { status: "warning", output: "slow" }, T0 + 1_000, 2).instance;
    expect(isRoutable(warn, T0 + 2_000)).toBe(true);
    expect(isPassing(warn, T0 + 2_000)).toBe(false);
  });

  it("records a deregistration by the client from the current status", () => {
    expect(deregister(fresh(), T0 + 1)).toEqual([
      expect.objectContaining({ from: "passing", to: "deregistered", reason: "deregistered", at: T0 + 1 }),
    ]);
  });
});

describe("scheduling", () => {
  it("wakes at the earliest TTL expiry or deregistration", () => {
    const a = fresh();
    const b = { ...register(undefined, { ...reg, url: "https://b.example.com/" }, "i-2", T0 + 5_000, 2).instance };
    const critical = settle({ ...a, id: "i-3" }, T0 + 20_000).instance;
    expect(nextTransitionAt([a, b])).toBe(expiresAt(a));
    expect(nextTransitionAt([critical])).toBe(T0 + 10_000 + 600_000);
    expect(nextTransitionAt([])).toBeNull();
  });

  it("asks for heartbeats three times per TTL, at least every second", () => {
    expect(heartbeatIntervalSeconds(30)).toBe(10);
    expect(heartbeatIntervalSeconds(1)).toBe(1);
    expect(heartbeatIntervalSeconds(3600)).toBe(1200);
  });
});
