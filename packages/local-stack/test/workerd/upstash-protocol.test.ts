import { env } from "cloudflare:workers";
import { Redis } from "@upstash/redis/cloudflare";
import { describe, expect, it } from "vitest";

/**
 * The local Upstash endpoint must be indistinguishable from Upstash for the real client, with its
 * defaults (auto-pipelining, base64 response encoding, automatic JSON deserialisation) and without them.
 */
const key = (name: string) => `proto:${crypto.randomUUID()}:${name}`;
const defaults = () => new Redis({ url: env.UPSTASH_REDIS_REST_URL, token: env.UPSTASH_REDIS_REST_TOKEN });
const raw = () => new Redis({ url: env.UPSTASH_REDIS_REST_URL, token: env.UPSTASH_REDIS_REST_TOKEN, automaticDeserialization: false });

describe("local Upstash endpoint with the real @upstash/redis client", () => {
  it("rejects a wrong token", async () => {
    const bad = new Redis({ url: env.UPSTASH_REDIS_REST_URL, token: "wrong", retry: false });
    await expect(bad.get("x")).rejects.toThrow();
  });

  it("round-trips strings that look like base64, status words or JSON, byte for byte", async () => {
    const r = raw();
    for (const value of ["PONG", "OK", "abcd", "aGVsbG8=", '{"a":1}', "123", "", "ünïcødé ✓", "line\nbreak"]) {
      const k = key("s");
      await r.set(k, value);
      expect(await r.get(k), value).toBe(value);
    }
    expect(await r.ping()).toBe("PONG");
  });

  it("deserialises JSON values with the client's defaults", async () => {
    const r = defaults();
    const k = key("json");
    await r.set(k, { a: 1, b: ["x"] });
    expect(await r.get(k)).toEqual({ a: 1, b: ["x"] });
    expect(await r.incr(key("n"))).toBe(1);
  });

  it("supports hashes and sorted sets", async () => {
    const r = defaults();
    const h = key("h");
    await r.hset(h, { f1: "v1", f2: "PONG" });
    expect(await r.hgetall(h)).toEqual({ f1: "v1", f2: "PONG" });
    const z = key("z");
    await r.zadd(z, { score: 2, member: "b" }, { score: 1, member: "a" });
    expect(await r.zrange(z, 0, -1, { withScores: true })).toEqual(["a", 1, "b", 2]);
  });

  it("supports streams with consumer groups, pending lists, XAUTOCLAIM and XACK", async () => {
    const r = raw();
    const s = key("stream");
    await r.xgroup(s, { type: "CREATE", group: "g", id: "$", options: { MKSTREAM: true } });
    const id1 = await r.xadd(s, "*", { type: "a", data: '{"x":1}' });
    const id2 = await r.xadd(s, "*", { type: "b", data: "aGVsbG8=" });
    expect(await r.xlen(s)).toBe(2);
    const read = (await r.xreadgroup("g", "c1", s, ">", { count: 10 })) as Array<[string, Array<[string, string[]]>]>;
    expect(read[0]?.[1].map(([id]) => id)).toEqual([id1, id2]);
    expect(read[0]?.[1][1]?.[1]).toEqual(["type", "b", "data", "aGVsbG8="]);
    const pending = (await r.xpending(s, "g", "-", "+", 10)) as Array<[string, string, number, number]>;
    expect(pending.map((p) => p[0])).toEqual([id1, id2]);
    const claimed = (await r.xautoclaim(s, "g", "c2", 0, "0-0", { count: 10 })) as [string, Array<[string, string[]]>, string[]];
    expect(claimed[1].map(([id]) => id)).toEqual([id1, id2]);
    expect(await r.xack(s, "g", [id1, id2])).toBe(2);
    const groups = (await r.xinfo(s, { type: "GROUPS" })) as unknown[][];
    expect(groups[0]).toContain("g");
    const range = await defaults().xrange<Record<string, unknown>>(s, "-", "+");
    expect(Object.keys(range)).toEqual([id1, id2]);
    expect(range[id1]).toEqual({ type: "a", data: { x: 1 } });
  });

  it("runs EVAL and EVALSHA, and reports NOSCRIPT for an unknown hash", async () => {
    const r = raw();
    const script = "return {KEYS[1], ARGV[1], tonumber(ARGV[2]) + 1}";
    expect(await r.eval(script, [key("k")], ["PONG", "41"])).toEqual([expect.stringMatching(/^proto:/), "PONG", 42]);
    const sha = await r.scriptLoad(script);
    expect(await r.evalsha(sha, ["k1"], ["v", "1"])).toEqual(["k1", "v", 2]);
    await expect(r.evalsha("0".repeat(40), [], [])).rejects.toThrow(/NOSCRIPT/);
  });

  it("executes pipelines in order, with a failing command reported in place", async () => {
    const r = raw();
    const k = key("p");
    const results = await r.pipeline().set(k, "1").incr(k).get(k).exec();
    expect(results).toEqual(["OK", 2, "2"]);
    const h = key("wrongtype");
    await r.set(h, "str");
    await expect(r.pipeline().get(h).hget(h, "f").exec()).rejects.toThrow(/WRONGTYPE/);
  });

  it("executes transactions atomically through /multi-exec", async () => {
    const r = raw();
    const k = key("m");
    const results = await r.multi().set(k, "a").append(k, "b").get(k).exec();
    expect(results).toEqual(["OK", 2, "ab"]);
  });

  it("refuses blocking reads, which Upstash's REST API does not support", async () => {
    const r = raw();
    const s = key("blk");
    await expect(r.xread(s, "$", { blockMS: 100 })).rejects.toThrow();
  });
});
