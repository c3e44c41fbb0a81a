import { abortAllDurableObjects, env, runDurableObjectAlarm, runInDurableObject, SELF } from "cloudflare:test";
import {
  checkRateLimit,
  DenyCache,
  LeaseCache,
  rateLimit,
  shardKey,
  shardPolicy,
  type Policy,
  type RateLimiter,
} from "@foundation/rate-limiter";
import { createService, MetricsRegistry } from "@foundation/service-kit";
import { describe, expect, it, vi } from "vitest";
import { token } from "./auth.ts";

const stubFor = (key: string) => env.RATE_LIMITER.get(env.RATE_LIMITER.idFromName(key));
const uniqueKey = (name: string) => `${name}:${crypto.randomUUID()}`;

/** Fixed windows of a day: a test that spends a quota is never split by a window boundary (a minute could be). */
const DAY = 86_400_000;

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

describe("rateLimit middleware", () => {
  function appWith(
    failMode: "open" | "closed",
    timeoutMs?: number,
    policy: Policy = { algorithm: "fixed-window", limit: 2, windowMs: DAY },
  ) {
    const metrics = new MetricsRegistry();
    const app = createService<Env>({ name: "rl-test", version: "1", metrics, logSink: () => {} });
    const quota = uniqueKey("q");
    app.use(
      "/limited",
      rateLimit<Env>({
        name: quota,
        policy,
        key: (c) => c.req.header("x-client") ?? "anon",
        limiter: (e) => e.RATE_LIMITER,
        failMode,
        timeoutMs,
        metrics,
        // A clock that stands still: no lease runs out between two requests of a test.
        leases: new LeaseCache(1000, () => 1_700_000_000_000),
      }),
    );
    app.get("/limited", (c) => c.json({ ok: true }));
    return { app, metrics, quota };
  }

  it("adds RateLimit headers and answers 429 problem+json with Retry-After once the quota is spent", async () => {
    const { app, quota } = appWith("closed");
    const first = await app.request("/limited", { headers: { "x-client": "a" } }, env);
    expect(first.status).toBe(200);
    expect(first.headers.get("RateLimit-Policy")).toBe(`"${quota}";q=2;w=86400`);
    expect(first.headers.get("RateLimit")).toMatch(new RegExp(`^"${quota}";r=1;t=\\d+$`));
    await app.request("/limited", { headers: { "x-client": "a" } }, env);
    const refused = await app.request("/limited", { headers: { "x-client": "a" } }, env);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("content-type")).toBe("application/problem+json");
    expect(Number(refused.headers.get("Retry-After"))).toBeGreaterThan(0);
    expect(refused.headers.get("RateLimit")).toMatch(/r=0/);
    expect((await app.request("/limited", { headers: { "x-client": "b" } }, env)).status).toBe(200);
  });

  it("spends a leased quota locally and still refuses past the limit", async () => {
    const { app } = appWith("closed", undefined, { algorithm: "fixed-window", limit: 12, windowMs: DAY, reserve: 4 });
    const statuses: number[] = [];
    for (let i = 0; i < 14; i++) statuses.push((await app.request("/limited", { headers: { "x-client": "a" } }, env)).status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(12);
    expect(statuses.slice(12)).toEqual([429, 429]);
  });

  it("fails closed with 503 when declared, counting the reason", async () => {
    const { app, metrics, quota } = appWith("closed", 0);
    const res = await app.request("/limited", {}, env);
    expect(res.status).toBe(503);
    expect(res.headers.get("Retry-After")).toBe("1");
    expect(metrics.render()).toContain(`foundation_ratelimit_degraded_total{mode="closed",quota="${quota}",reason="timeout"} 1`);
  });

  it("refuses when built a cost that one shard of the quota could never admit", () => {
    const options = {
      name: "sharded",
      policy: { algorithm: "fixed-window", limit: 10, windowMs: 1000, shards: 4 } satisfies Policy,
      key: () => "anon",
      limiter: (e: Env) => e.RATE_LIMITER,
      failMode: "closed" as const,
    };
    expect(() => rateLimit<Env>({ ...options, cost: 3 })).toThrow(RangeError);
    expect(() => rateLimit<Env>({ ...options, cost: 2 })).not.toThrow();
  });

  it("fails open when declared, letting the request through and counting it", async () => {
    const { app, metrics, quota } = appWith("open", 0);
    const res = await app.request("/limited", {}, env);
    expect(res.status).toBe(200);
    expect(metrics.render()).toContain(`foundation_ratelimit_degraded_total{mode="open",quota="${quota}",reason="timeout"} 1`);
  });
});

describe("POST /api/foundation/ratelimit/check", () => {
  const url = "http://gw.test/api/foundation/ratelimit/check";
  const post = async (body: unknown, auth?: string) =>
    SELF.fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", ...(auth ? { authorization: `Bearer ${auth}` } : {}) },
      body: JSON.stringify(body),
    });

  it("takes units from the caller's quota and refuses once it is spent", async () => {
    const t = await token("service", "billing");
    const body = { key: uniqueKey("api"), policy: { algorithm: "token-bucket", limit: 3, refillPerSecond: 0.01 }, cost: 2 };
    const first = await post(body, t);
    expect(first.status).toBe(200);
    expect(await first.json()).toMatchObject({ allowed: true, remaining: 1, limit: 3 });
    const second = await post(body, t);
    expect(await second.json()).toMatchObject({ allowed: false, remaining: 1 });
  });

  it("keeps quotas of different callers apart", async () => {
    const body = { key: uniqueKey("shared-name"), policy: { algorithm: "fixed-window", limit: 1, windowMs: DAY } };
    expect(await (await post(body, await token("service", "svc-a"))).json()).toMatchObject({ allowed: true });
    expect(await (await post(body, await token("service", "svc-b"))).json()).toMatchObject({ allowed: true });
  });

  it.each([
    ["a negative limit", { algorithm: "fixed-window", limit: -1, windowMs: 1000 }],
    ["a zero limit", { algorithm: "fixed-window", limit: 0, windowMs: 1000 }],
    ["an unknown algorithm", { algorithm: "leaky-bucket", limit: 10, windowMs: 1000 }],
    ["a window of 0", { algorithm: "sliding-window", limit: 10, windowMs: 0 }],
    ["a token bucket without a refill rate", { algorithm: "token-bucket", limit: 10 }],
    ["an unknown policy field", { algorithm: "fixed-window", limit: 10, windowMs: 1000, burst: 5 }],
    ["0 shards", { algorithm: "fixed-window", limit: 10, windowMs: 1000, shards: 0 }],
    ["more than 64 shards", { algorithm: "sliding-window", limit: 1000, windowMs: 1000, shards: 65 }],
    ["a fractional shard count", { algorithm: "fixed-window", limit: 10, windowMs: 1000, shards: 2.5 }],
    ["fewer units than shards", { algorithm: "token-bucket", limit: 3, refillPerSecond: 1, shards: 4 }],
    ["a reserve on a sliding log", { algorithm: "sliding-log", limit: 100, windowMs: 1000, reserve: 10 }],
    ["a reserve above one shard's share", { algorithm: "fixed-window", limit: 100, windowMs: 1000, shards: 4, reserve: 26 }],
    ["a reserve of 1", { algorithm: "token-bucket", limit: 100, refillPerSecond: 1, reserve: 1 }],
  ])("answers %s with 400 problem+json", async (_, policy) => {
    const res = await post({ key: "k", policy }, await token("service", "billing"));
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(await res.json()).toMatchObject({ type: "/problems/validation-error" });
  });

  it("answers a cost above the limit with 400", async () => {
    const res = await post(
      { key: "k", policy: { algorithm: "fixed-window", limit: 2, windowMs: 1000 }, cost: 3 },
      await token("service", "billing"),
    );
    expect(res.status).toBe(400);
  });

  it("points a limit below the shard count at the shards field", async () => {
    const res = await post(
      { key: "k", policy: { algorithm: "sliding-log", limit: 3, windowMs: 1000, shards: 4 } },
      await token("service", "billing"),
    );
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ errors: [{ pointer: "/json/policy/shards" }] });
  });

  it("answers a cost above one shard's share of the limit with 400", async () => {
    const policy = { algorithm: "fixed-window", limit: 10, windowMs: 1000, shards: 4 };
    const t = await token("service", "billing");
    expect((await post({ key: uniqueKey("cost"), policy, cost: 2 }, t)).status).toBe(200);
    expect((await post({ key: uniqueKey("cost"), policy, cost: 3 }, t)).status).toBe(400);
  });

  it("answers a sharded policy with the whole limit and an estimated remaining", async () => {
    const body = { key: uniqueKey("sharded-api"), policy: { algorithm: "fixed-window", limit: 100, windowMs: DAY, shards: 4 } };
    const res = await post(body, await token("service", "billing"));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ allowed: true, limit: 100, remaining: 96 });
  });

  it("requires a service token", async () => {
    const body = { key: "k", policy: { algorithm: "fixed-window", limit: 2, windowMs: 1000 } };
    expect((await post(body)).status).toBe(401);
    expect((await post(body, await token("read", "billing"))).status).toBe(403);
    expect((await post(body, await token("admin", "billing"))).status).toBe(200);
  });

  it("refuses a non-JSON body with 415 and malformed JSON with 400", async () => {
    const t = await token("service", "billing");
    const text = await SELF.fetch(url, {
      method: "POST",
      headers: { "content-type": "text/plain", authorization: `Bearer ${t}` },
      body: "key=k",
    });
    expect(text.status).toBe(415);
    const bad = await SELF.fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${t}` },
      body: "{",
    });
    expect(bad.status).toBe(400);
  });
});
