import { describe, expect, it } from "vitest";
import { decide, type Decision, type LimiterState } from "./algorithms/index.ts";
import { Policy, policyWindowMs } from "./policy.ts";
import { combineDecisions, maxCost, probeOrder, shardKey, shardLimit, shardPolicy } from "./sharding.ts";

/** A seeded PRNG (mulberry32), so a failing random sequence can be replayed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The client's probing over in-memory shards: `n` requests of cost 1 at time `now`, returning the admitted count. */
function simulate(policy: Policy, n: number, random: () => number, states = new Map<number, LimiterState>(), now = 0): number {
  let admitted = 0;
  for (let i = 0; i < n; i++) {
    const decisions: Decision[] = [];
    for (const index of probeOrder(policy.shards ?? 1, random)) {
      const r = decide(states.get(index), now, shardPolicy(policy, index), 1);
      states.set(index, r.state);
      decisions.push(r.decision);
      if (r.decision.allowed) break;
    }
    if (combineDecisions(policy, decisions).allowed) admitted++;
  }
  return admitted;
}

const decision = (d: Partial<Decision>): Decision => ({ allowed: true, limit: 25, remaining: 0, resetMs: 0, retryAfterMs: 0, ...d });

describe("shardLimit", () => {
  it("splits every limit so the shards' limits sum exactly to it and differ by at most one", () => {
    for (const shards of [1, 2, 3, 4, 7, 16, 64]) {
      for (const limit of [shards, shards + 1, 100, 101, 999, 1_000_000_000]) {
        const limits = Array.from({ length: shards }, (_, i) => shardLimit(limit, shards, i));
        expect(limits.reduce((a, b) => a + b)).toBe(limit);
        expect(Math.max(...limits) - Math.min(...limits)).toBeLessThanOrEqual(1);
        expect(Math.min(...limits)).toBeGreaterThanOrEqual(1);
      }
    }
  });

  it("gives the remainder to the first shards", () => {
    expect([0, 1, 2, 3].map((i) => shardLimit(10, 4, i))).toEqual([3, 3, 2, 2]);
  });
});

describe("shardPolicy", () => {
  it("returns an unsharded policy unchanged, with or without an explicit shards of 1", () => {
    const p: Policy = { algorithm: "token-bucket", limit: 1_000_000_000, refillPerSecond: 0.3 };
    expect(shardPolicy(p, 0)).toEqual(p);
    expect(shardPolicy({ ...p, shards: 1 }, 0)).toEqual(p);
  });

  it("gives each shard its share of the limit and drops the shards field", () => {
    const p: Policy = { algorithm: "sliding-log", limit: 10, windowMs: 1000, shards: 4 };
    expect(shardPolicy(p, 0)).toEqual({ algorithm: "sliding-log", limit: 3, windowMs: 1000 });
    expect(shardPolicy(p, 3)).toEqual({ algorithm: "sliding-log", limit: 2, windowMs: 1000 });
  });

  it("splits a token bucket's refill rate like its limit, so every shard refills in the policy's window", () => {
    const p: Policy = { algorithm: "token-bucket", limit: 10, refillPerSecond: 5, shards: 4 };
    const shards = [0, 1, 2, 3].map((i) => shardPolicy(p, i));
    const rate = shards.reduce((sum, s) => sum + (s.algorithm === "token-bucket" ? s.refillPerSecond : 0), 0);
    expect(rate).toBeCloseTo(5, 12);
    for (const s of shards) expect(policyWindowMs(s)).toBe(policyWindowMs(p));
  });

  it("refuses a shard index outside the policy's shards", () => {
    const p: Policy = { algorithm: "fixed-window", limit: 10, windowMs: 1000, shards: 4 };
    expect(() => shardPolicy(p, 4)).toThrow(RangeError);
    expect(() => shardPolicy(p, -1)).toThrow(RangeError);
    expect(() => shardPolicy(p, 1.5)).toThrow(RangeError);
  });
});

describe("shardKey", () => {
  it("keeps the key itself for shard 0, so an unsharded key keeps its state", () => {
    expect(shardKey("api:ip:203.0.113.1", 0)).toBe("api:ip:203.0.113.1");
  });

  it("names every other shard apart from the key and from each other", () => {
    const names = Array.from({ length: 64 }, (_, i) => shardKey("k", i));
    expect(new Set(names).size).toBe(64);
    expect(names.slice(1).every((n) => n.startsWith("k\u0000"))).toBe(true);
  });
});

describe("probeOrder", () => {
  it("asks the one shard of an unsharded key without drawing a random number", () => {
    expect(
      probeOrder(1, () => {
        throw new Error("no draw expected");
      }),
    ).toEqual([0]);
  });

  it("asks a random shard, then the next one, wrapping around", () => {
    expect(probeOrder(4, () => 0)).toEqual([0, 1]);
    expect(probeOrder(4, () => 0.5)).toEqual([2, 3]);
    expect(probeOrder(4, () => 0.9999)).toEqual([3, 0]);
    expect(probeOrder(2, () => 0.7)).toEqual([1, 0]);
  });

  it("stays within the shards even when the random source returns 1", () => {
    expect(probeOrder(16, () => 1)).toEqual([15, 0]);
  });
});

describe("combineDecisions", () => {
  const p: Policy = { algorithm: "fixed-window", limit: 100, windowMs: 1000, shards: 4 };

  it("returns an unsharded key's decision as it is", () => {
    const d = decision({ limit: 7, remaining: 3, resetMs: 10 });
    expect(combineDecisions({ algorithm: "fixed-window", limit: 7, windowMs: 1000 }, [d])).toBe(d);
  });

  it("reports the policy's limit and scales the admitting shard's remaining up to it", () => {
    expect(combineDecisions(p, [decision({ remaining: 20, resetMs: 900 })])).toEqual({
      allowed: true,
      limit: 100,
      remaining: 80,
      resetMs: 900,
      retryAfterMs: 0,
    });
  });

  it("counts a refusing first shard in the estimate when the second admits", () => {
    const d = combineDecisions(p, [
      decision({ allowed: false, remaining: 0, resetMs: 500, retryAfterMs: 500 }),
      decision({ remaining: 10, resetMs: 800 }),
    ]);
    expect(d).toEqual({ allowed: true, limit: 100, remaining: 20, resetMs: 800, retryAfterMs: 0 });
  });

  it("refuses when both asked shards refused, retrying at the earlier of their retry times", () => {
    const d = combineDecisions(p, [
      decision({ allowed: false, resetMs: 700, retryAfterMs: 700 }),
      decision({ allowed: false, resetMs: 300, retryAfterMs: 300 }),
    ]);
    expect(d).toEqual({ allowed: false, limit: 100, remaining: 0, resetMs: 700, retryAfterMs: 300 });
  });

  it("never reports more remaining than the limit", () => {
    const uneven: Policy = { algorithm: "fixed-window", limit: 10, windowMs: 1000, shards: 4 };
    expect(combineDecisions(uneven, [decision({ limit: 2, remaining: 2 })]).remaining).toBe(10);
  });

  it("refuses to combine no decision", () => {
    expect(() => combineDecisions(p, [])).toThrow(RangeError);
  });
});

describe("maxCost", () => {
  it("is the smallest shard's limit, the whole limit when unsharded", () => {
    expect(maxCost({ algorithm: "fixed-window", limit: 10, windowMs: 1000 })).toBe(10);
    expect(maxCost({ algorithm: "fixed-window", limit: 10, windowMs: 1000, shards: 4 })).toBe(2);
  });
});

describe("the shards field of a policy", () => {
  it.each([
    ["0 shards", { algorithm: "fixed-window", limit: 10, windowMs: 1000, shards: 0 }],
    ["65 shards", { algorithm: "sliding-window", limit: 1000, windowMs: 1000, shards: 65 }],
    ["a fractional shard count", { algorithm: "fixed-window", limit: 10, windowMs: 1000, shards: 1.5 }],
    ["fewer units than shards", { algorithm: "sliding-log", limit: 3, windowMs: 1000, shards: 4 }],
    ["a token bucket with fewer tokens than shards", { algorithm: "token-bucket", limit: 3, refillPerSecond: 100, shards: 4 }],
  ])("refuses %s", (_, policy) => {
    expect(Policy.safeParse(policy).success).toBe(false);
  });

  it("accepts one unit per shard and leaves an absent field absent", () => {
    expect(Policy.parse({ algorithm: "fixed-window", limit: 4, windowMs: 1000, shards: 4 }).shards).toBe(4);
    expect(Policy.parse({ algorithm: "fixed-window", limit: 4, windowMs: 1000 })).not.toHaveProperty("shards");
  });
});

describe("sharded admission", () => {
  const policies: Policy[] = [
    { algorithm: "fixed-window", limit: 100, windowMs: 1000, shards: 4 },
    { algorithm: "sliding-window", limit: 100, windowMs: 1000, shards: 4 },
    { algorithm: "sliding-log", limit: 100, windowMs: 1000, shards: 4 },
    { algorithm: "token-bucket", limit: 100, refillPerSecond: 100, shards: 4 },
    { algorithm: "fixed-window", limit: 1000, windowMs: 1000, shards: 16 },
  ];

  for (const policy of policies) {
    it(`${policy.algorithm} over ${policy.shards} shards: never admits more than the limit, whatever the picks`, () => {
      for (let seed = 1; seed <= 50; seed++) expect(simulate(policy, 3 * policy.limit, seeded(seed))).toBeLessThanOrEqual(policy.limit);
    });
  }

  it("admits the whole limit when the picks go round the shards evenly", () => {
    let i = 0;
    const roundRobin = () => (i++ % 4) / 4;
    expect(simulate(policies[0] as Policy, 200, roundRobin)).toBe(100);
  });

  it("at worst refuses once two shards are spent, when every pick is the same shard", () => {
    const p: Policy = { algorithm: "fixed-window", limit: 100, windowMs: 1000, shards: 4 };
    expect(simulate(p, 200, () => 0)).toBe(50);
  });

  it("with 2 shards asks both before refusing, so is exact for a cost of 1", () => {
    const p: Policy = { algorithm: "fixed-window", limit: 101, windowMs: 1000, shards: 2 };
    expect(simulate(p, 300, () => 0)).toBe(101);
  });

  it("spends nearly all of the quota under random picks, the next window afresh", () => {
    const p = policies[0] as Policy;
    const states = new Map<number, LimiterState>();
    for (let seed = 1; seed <= 50; seed++) {
      const random = seeded(seed);
      expect(simulate(p, 200, random, states, seed * 1000)).toBeGreaterThanOrEqual(95);
    }
  });
});
