import { env, runInDurableObject } from "cloudflare:test";
import { checkRateLimit, DenyCache, LeaseCache, shardKey, shardPolicy, type Policy, type RateLimiter } from "@foundation/rate-limiter";
import { describe, expect, it } from "vitest";
import { DAY, stubFor, uniqueKey } from "./ratelimit-helpers.ts";

describe("checkRateLimit", () => {
  it("answers refused keys from the isolate's deny cache until their retry time", async () => {
    const cache = new DenyCache();
    const key = uniqueKey("cache");
    const policy: Policy = { algorithm: "fixed-window", limit: 1, windowMs: DAY };
    expect(await checkRateLimit(env.RATE_LIMITER, key, policy, { denyCache: cache })).toMatchObject({ source: "limiter", allowed: true });
    expect(await checkRateLimit(env.RATE_LIMITER, key, policy, { denyCache: cache })).toMatchObject({ source: "limiter", allowed: false });
    const cached = await checkRateLimit(env.RATE_LIMITER, key, policy, { denyCache: cache });
    expect(cached).toMatchObject({ source: "deny-cache", allowed: false });
  });

  it("reports a typed timeout instead of throwing when the limiter cannot answer in time", async () => {
    const r = await checkRateLimit(
      env.RATE_LIMITER,
      uniqueKey("slow"),
      { algorithm: "fixed-window", limit: 1, windowMs: 1000 },
      { timeoutMs: 0 },
    );
    expect(r).toMatchObject({ source: "degraded", reason: "timeout" });
  });
});

describe("checkRateLimit on a sharded key", () => {
  const sharded: Policy = { algorithm: "fixed-window", limit: 100, windowMs: DAY, shards: 4 };
  /** Generous, so a busy test machine never turns a decision into a degraded one. */
  const timeoutMs = 10_000;
  const admitted = (results: Awaited<ReturnType<typeof checkRateLimit>>[]) => results.filter((r) => r.source === "limiter" && r.allowed);

  it("admits exactly the limit of 200 concurrent checks over 4 shards when the picks go round the shards", async () => {
    // Each shard is picked first by 50 requests, twice its 25 units, so every shard is spent whatever the order.
    const key = uniqueKey("sharded-even");
    let next = 0;
    const random = () => (next++ % 4) / 4;
    const results = await Promise.all(
      Array.from({ length: 200 }, () => checkRateLimit(env.RATE_LIMITER, key, sharded, { random, timeoutMs })),
    );
    expect(results.every((r) => r.source === "limiter")).toBe(true);
    expect(admitted(results)).toHaveLength(100);
    for (let s = 0; s < 4; s++)
      expect((await stubFor(shardKey(key, s)).check(shardPolicy(sharded, s), 1)).allowed, `shard ${s}`).toBe(false);
  });

  it("never admits more than the limit of 200 concurrent checks with random picks, and at least 90", async () => {
    // Shard j admits at least min(25, checks that pick it first), and those counts are multinomial(200, ¼ each):
    // summed over the shards this falls below 90 with a probability of 1.3 × 10⁻¹⁰ (computed exactly), so never in practice.
    const key = uniqueKey("sharded-random");
    const results = await Promise.all(Array.from({ length: 200 }, () => checkRateLimit(env.RATE_LIMITER, key, sharded, { timeoutMs })));
    expect(results.every((r) => r.source === "limiter")).toBe(true);
    expect(admitted(results).length).toBeLessThanOrEqual(100);
    expect(admitted(results).length).toBeGreaterThanOrEqual(90);
  });

  it("reports the whole limit and estimates remaining from the shard that answered", async () => {
    const r = await checkRateLimit(env.RATE_LIMITER, uniqueKey("sharded-estimate"), sharded, { random: () => 0, timeoutMs });
    expect(r).toMatchObject({ source: "limiter", allowed: true, limit: 100, remaining: 96, retryAfterMs: 0 });
  });

  it("asks the next shard before refusing, and answers from the deny cache only when both shards are known refused", async () => {
    const onePerShard: Policy = { algorithm: "fixed-window", limit: 4, windowMs: DAY, shards: 4 };
    const key = uniqueKey("sharded-probe");
    const denyCache = new DenyCache();
    const pick = (shard: number) => checkRateLimit(env.RATE_LIMITER, key, onePerShard, { random: () => shard / 4, denyCache, timeoutMs });
    expect(await pick(0)).toMatchObject({ source: "limiter", allowed: true, limit: 4 });
    expect(await pick(0)).toMatchObject({ source: "limiter", allowed: true });
    const refused = await pick(0);
    expect(refused).toMatchObject({ source: "limiter", allowed: false, limit: 4, remaining: 0 });
    expect(refused.source !== "degraded" && refused.retryAfterMs).toBeGreaterThan(0);
    expect(await pick(0)).toMatchObject({ source: "deny-cache", allowed: false });
    expect(await pick(2)).toMatchObject({ source: "limiter", allowed: true });
    expect(await pick(3)).toMatchObject({ source: "limiter", allowed: true });
    expect(await pick(1)).toMatchObject({ source: "limiter", allowed: false });
    expect(await pick(1)).toMatchObject({ source: "deny-cache", allowed: false });
  });

  it("treats shards: 1 as no sharding: the key's own object, the same decisions", async () => {
    const key = uniqueKey("one-shard");
    const plain: Policy = { algorithm: "fixed-window", limit: 5, windowMs: DAY };
    expect(await checkRateLimit(env.RATE_LIMITER, key, plain)).toMatchObject({ source: "limiter", allowed: true, limit: 5, remaining: 4 });
    expect(await checkRateLimit(env.RATE_LIMITER, key, { ...plain, shards: 1 })).toMatchObject({
      source: "limiter",
      allowed: true,
      limit: 5,
      remaining: 3,
    });
    expect(await stubFor(key).check(plain, 1)).toMatchObject({ allowed: true, remaining: 2 });
  });

  it("reports a typed timeout for a sharded key too", async () => {
    const r = await checkRateLimit(env.RATE_LIMITER, uniqueKey("sharded-slow"), sharded, { timeoutMs: 0 });
    expect(r).toMatchObject({ source: "degraded", reason: "timeout" });
  });
});

describe("checkRateLimit with leases (policy.reserve)", () => {
  const policy: Policy = { algorithm: "fixed-window", limit: 100, windowMs: DAY, reserve: 10 };
  /** A lease cache on a clock that stands still, so no lease runs out during a test. */
  const isolate = () => new LeaseCache(1000, () => 1_700_000_000_000);
  const storedCount = (key: string) =>
    runInDurableObject(
      stubFor(key),
      (_i: RateLimiter, state) => state.storage.kv.get<{ state: { count: number } }>(policy.algorithm)?.state.count,
    );
  const admitted = (results: Awaited<ReturnType<typeof checkRateLimit>>[]) =>
    results.filter((r) => r.source !== "degraded" && r.allowed).length;

  it("asks the object once per `reserve` requests, which counts leased units as spent", async () => {
    const key = uniqueKey("lease-seq");
    const leases = isolate();
    const sources = [];
    for (let i = 0; i < 25; i++) {
      const r = await checkRateLimit(env.RATE_LIMITER, key, policy, { leases });
      expect(r).toMatchObject({ allowed: true });
      sources.push(r.source);
    }
    expect(sources.filter((s) => s === "limiter")).toHaveLength(3); // the lease requests; the rest answered locally
    expect(sources.filter((s) => s === "lease")).toHaveLength(22);
    expect(await storedCount(key)).toBe(30);
    const next = await checkRateLimit(env.RATE_LIMITER, key, policy, { leases });
    expect(next).toMatchObject({ allowed: true, limit: 100, remaining: 74 });
  });

  it("takes one turn of the event loop after a decision from a lease, unless the caller took its own (turn: false)", async () => {
    const key = uniqueKey("lease-turn");
    const leases = isolate();
    await checkRateLimit(env.RATE_LIMITER, key, policy, { leases }); // the lease request
    const order = async (turn: boolean | undefined) => {
      const seen: string[] = [];
      setTimeout(() => seen.push("timer"), 0);
      const r = await checkRateLimit(env.RATE_LIMITER, key, policy, { leases, ...(turn === undefined ? {} : { turn }) });
      seen.push(r.source);
      await new Promise((resume) => setTimeout(resume, 0));
      return seen;
    };
    expect(await order(undefined)).toEqual(["timer", "lease"]);
    expect(await order(false)).toEqual(["lease", "timer"]);
  });

  it("never admits more than the limit of 200 concurrent checks in one isolate; the next requests spend what it leased", async () => {
    const key = uniqueKey("lease-burst");
    const leases = isolate();
    const burst = await Promise.all(Array.from({ length: 200 }, () => checkRateLimit(env.RATE_LIMITER, key, policy, { leases })));
    // One request asks for a lease; the others, finding it in flight, ask for their own decision instead of waiting.
    expect(burst.filter((r) => r.source === "lease")).toHaveLength(0);
    const burstAdmitted = admitted(burst);
    expect(burstAdmitted).toBeLessThanOrEqual(100);
    expect(burstAdmitted).toBeGreaterThanOrEqual(100 - policy.reserve! + 1);
    const after = [];
    for (let i = 0; i < 20; i++) after.push(await checkRateLimit(env.RATE_LIMITER, key, policy, { leases }));
    expect(burstAdmitted + admitted(after)).toBe(100);
    expect(await storedCount(key)).toBe(100);
  });

  it("refills a lease running low in the background (waitUntil), so requests keep finding units", async () => {
    const key = uniqueKey("lease-refill");
    const leases = isolate();
    const deferred: Promise<unknown>[] = [];
    const sources = [];
    for (let i = 0; i < 50; i++) {
      const r = await checkRateLimit(env.RATE_LIMITER, key, policy, { leases, waitUntil: (p) => deferred.push(p) });
      expect(r).toMatchObject({ allowed: true });
      sources.push(r.source);
      await Promise.all(deferred.splice(0));
    }
    expect(sources.filter((s) => s === "limiter")).toHaveLength(1); // only the first request waited for the object
    // Refills of 10 when 5 or fewer units are left: after requests 5, 15, 25, 35 and 45 (10 units still held).
    expect(await storedCount(key)).toBe(60);
  });

  it("never admits more than the limit across isolates, and refuses early by at most what another isolate holds", async () => {
    const key = uniqueKey("lease-isolates");
    const quiet = isolate();
    const busy = isolate();
    expect(await checkRateLimit(env.RATE_LIMITER, key, policy, { leases: quiet })).toMatchObject({ allowed: true });
    let busyAdmitted = 0;
    for (let i = 0; i < 150; i++)
      if (admitted([await checkRateLimit(env.RATE_LIMITER, key, policy, { leases: busy })]) === 1) busyAdmitted++;
    expect(busyAdmitted).toBe(90); // the quiet isolate still holds 9 of the 100
    let quietAdmitted = 1;
    for (let i = 0; i < 20; i++)
      if (admitted([await checkRateLimit(env.RATE_LIMITER, key, policy, { leases: quiet })]) === 1) quietAdmitted++;
    expect(quietAdmitted).toBe(10);
    expect(busyAdmitted + quietAdmitted).toBe(100);
  });

  it("checks every request with the object when no lease cache is given", async () => {
    const key = uniqueKey("lease-none");
    for (let i = 0; i < 3; i++) await checkRateLimit(env.RATE_LIMITER, key, policy);
    expect(await storedCount(key)).toBe(3);
  });
});
