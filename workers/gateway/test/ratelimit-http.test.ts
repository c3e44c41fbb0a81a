import { env, SELF } from "cloudflare:test";
import { LeaseCache, rateLimit, type Policy } from "@foundation/rate-limiter";
import { createService, MetricsRegistry } from "@foundation/service-kit";
import { describe, expect, it } from "vitest";
import { token } from "./auth.ts";
import { DAY, uniqueKey } from "./ratelimit-helpers.ts";

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

  it("keeps quotas apart when a subject or a key contains the separator", async () => {
    const key = uniqueKey("sep");
    const policy = { algorithm: "fixed-window", limit: 1, windowMs: DAY };
    expect(await (await post({ key: "k", policy }, await token("service", `team:${key}`))).json()).toMatchObject({ allowed: true });
    expect(await (await post({ key: `${key}:k`, policy }, await token("service", "team"))).json()).toMatchObject({ allowed: true });
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
