import { abortAllDurableObjects, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import type { Policy, RateLimiter } from "@foundation/rate-limiter";
import { describe, expect, it, vi } from "vitest";
import { DAY, stubFor, uniqueKey } from "./ratelimit-helpers.ts";

describe("RateLimiter Durable Object", () => {
  it("admits exactly 100 of 200 concurrent requests on one key with limit 100", async () => {
    const stub = stubFor(uniqueKey("concurrent"));
    const policy: Policy = { algorithm: "fixed-window", limit: 100, windowMs: DAY };
    const decisions = await Promise.all(Array.from({ length: 200 }, () => stub.check(policy, 1)));
    expect(decisions.filter((d) => d.allowed)).toHaveLength(100);
  });

  it("is exact for every algorithm under concurrency", async () => {
    const policies: Policy[] = [
      { algorithm: "token-bucket", limit: 50, refillPerSecond: 0.001 },
      { algorithm: "sliding-window", limit: 50, windowMs: 60_000 },
      { algorithm: "sliding-log", limit: 50, windowMs: 60_000 },
    ];
    for (const policy of policies) {
      const stub = stubFor(uniqueKey(policy.algorithm));
      const decisions = await Promise.all(Array.from({ length: 120 }, () => stub.check(policy, 1, 1_000_000)));
      expect(
        decisions.filter((d) => d.allowed),
        policy.algorithm,
      ).toHaveLength(50);
    }
  });

  it("refuses nobody at 0.8x and never admits more than the limit per window at 1.6x, over two windows", async () => {
    const policy: Policy = { algorithm: "sliding-log", limit: 100, windowMs: 1000 };
    for (const [rate, expectMax] of [
      [0.8, 80],
      [1.6, 100],
    ] as const) {
      const stub = stubFor(uniqueKey(`rate-${rate}`));
      const perWindow = rate * 100;
      const admittedPerWindow = [0, 0];
      for (let w = 0; w < 2; w++) {
        const times = Array.from({ length: perWindow }, (_, i) => 10_000 + w * 1000 + Math.floor((i * 1000) / perWindow));
        for (const t of times) if ((await stub.check(policy, 1, t)).allowed) admittedPerWindow[w] = (admittedPerWindow[w] ?? 0) + 1;
      }
      for (const n of admittedPerWindow) {
        expect(n).toBeLessThanOrEqual(expectMax);
        if (rate < 1) expect(n).toBe(perWindow);
      }
    }
  });

  it("keeps the count when the object is evicted mid-window", async () => {
    const key = uniqueKey("evict");
    const policy: Policy = { algorithm: "fixed-window", limit: 10, windowMs: 3_600_000 };
    const first = await Promise.all(Array.from({ length: 6 }, () => stubFor(key).check(policy, 1)));
    expect(first.every((d) => d.allowed)).toBe(true);
    await abortAllDurableObjects();
    const after = await Promise.all(Array.from({ length: 6 }, () => stubFor(key).check(policy, 1)));
    expect(after.filter((d) => d.allowed)).toHaveLength(4);
  });

  it("has every decision of a concurrent burst in storage by the time the answers arrive", async () => {
    const key = uniqueKey("group-commit");
    const policy: Policy = { algorithm: "fixed-window", limit: 1000, windowMs: DAY };
    for (let burst = 1; burst <= 3; burst++) {
      const decisions = await Promise.all(Array.from({ length: 50 }, () => stubFor(key).check(policy, 1)));
      expect(decisions.every((d) => d.allowed)).toBe(true);
      await runInDurableObject(stubFor(key), (_i: RateLimiter, state) => {
        expect(state.storage.kv.get<{ state: { count: number } }>("fixed-window")?.state.count).toBe(50 * burst);
      });
      await abortAllDurableObjects();
    }
  });

  describe("write-ahead headroom (limit ≥ 10,000)", () => {
    const policy: Policy = { algorithm: "fixed-window", limit: 20_000, windowMs: DAY };
    const storedCount = (key: string) =>
      runInDurableObject(
        stubFor(key),
        (_i: RateLimiter, state) => state.storage.kv.get<{ state: { count: number } }>("fixed-window")?.state.count ?? 0,
      );
    const burst = async (key: string) => {
      const decisions = await Promise.all(Array.from({ length: 300 }, () => stubFor(key).check(policy, 1)));
      expect(decisions.every((d) => d.allowed)).toBe(true);
    };

    it("stays exact while the object lives", async () => {
      const key = uniqueKey("headroom-exact");
      await burst(key);
      expect((await stubFor(key).check(policy, 20_000 - 300)).allowed).toBe(true);
      expect((await stubFor(key).check(policy, 1)).allowed).toBe(false);
    });

    it("stores at most 0.1 % of the limit ahead, and never admits more than the limit after a crash", async () => {
      const key = uniqueKey("headroom-crash");
      expect((await stubFor(key).check(policy, 1)).allowed).toBe(true);
      expect(await storedCount(key)).toBe(2); // the first write has no rate to go by: one unit ahead
      await burst(key);
      const stored = await storedCount(key);
      expect(stored).toBeGreaterThanOrEqual(301);
      expect(stored).toBeLessThanOrEqual(301 + 20);
      await abortAllDurableObjects();
      expect((await stubFor(key).check(policy, 20_000 - stored)).allowed).toBe(true);
      expect((await stubFor(key).check(policy, 1)).allowed).toBe(false);
    });

    it("keeps a full token bucket's headroom across a crash (as a debt taken after the refill)", async () => {
      const key = uniqueKey("headroom-bucket");
      const bucket: Policy = { algorithm: "token-bucket", limit: 20_000, refillPerSecond: 1_000_000 };
      expect((await stubFor(key).check(bucket, 1)).allowed).toBe(true);
      await abortAllDurableObjects();
      // Refilled to full at once, less the unit stored ahead: the whole capacity is no longer there.
      expect((await stubFor(key).check(bucket, 20_000)).allowed).toBe(false);
      expect((await stubFor(key).check(bucket, 19_999)).allowed).toBe(true);
    });

    it("writes the exact count once the key goes quiet", async () => {
      const key = uniqueKey("headroom-settle");
      await burst(key);
      await vi.waitFor(async () => expect(await storedCount(key)).toBe(300), { timeout: 5000, interval: 100 });
    });
  });

  it("deletes an idle key's state from its alarm, and running the alarm twice changes nothing more", async () => {
    const stub = stubFor(uniqueKey("alarm"));
    const policy: Policy = { algorithm: "fixed-window", limit: 5, windowMs: 1000 };
    await stub.check(policy, 5);
    await runInDurableObject(stub, (_i: RateLimiter, state) => {
      expect(state.storage.kv.get("fixed-window")).toBeDefined();
      state.storage.kv.put("expiresAt", Date.now() - 1);
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    await runInDurableObject(stub, (_i: RateLimiter, state) => {
      expect(state.storage.kv.get("fixed-window")).toBeUndefined();
    });
    expect(await runDurableObjectAlarm(stub)).toBe(false);
    expect((await stub.check(policy, 5)).allowed).toBe(true);
  });

  it("keeps a key whose quota is still in use when its alarm fires early", async () => {
    const stub = stubFor(uniqueKey("alarm-busy"));
    await stub.check({ algorithm: "fixed-window", limit: 5, windowMs: 3_600_000 }, 5);
    await runInDurableObject(stub, async (_i: RateLimiter, state) => {
      await state.storage.setAlarm(Date.now());
    });
    await runDurableObjectAlarm(stub);
    await runInDurableObject(stub, async (_i: RateLimiter, state) => {
      expect(state.storage.kv.get("fixed-window")).toBeDefined();
      expect(await state.storage.getAlarm()).toBeGreaterThan(Date.now());
    });
  });
});
