import { describe, expect, it } from "vitest";
import { TOKEN_CACHE_TTL_MS, VerifiedTokenCache } from "./token-cache.ts";

const T0 = 1_700_000_000_000;

describe("VerifiedTokenCache", () => {
  it("answers a verified token until its exp, never after", () => {
    const cache = new VerifiedTokenCache<string>();
    cache.set("s", "tok", "alice", T0 / 1000 + 10, T0);
    expect(cache.get("s", "tok", T0 + 9_999)).toBe("alice");
    expect(cache.get("s", "tok", T0 + 10_000)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it("answers a long-lived token for the TTL only, so key rotation takes effect", () => {
    const cache = new VerifiedTokenCache<string>();
    cache.set("s", "tok", "alice", T0 / 1000 + 86_400, T0);
    expect(cache.get("s", "tok", T0 + TOKEN_CACHE_TTL_MS - 1)).toBe("alice");
    expect(cache.get("s", "tok", T0 + TOKEN_CACHE_TTL_MS)).toBeUndefined();
  });

  it("keeps nothing for a token that is already expired", () => {
    const cache = new VerifiedTokenCache<string>();
    cache.set("s", "tok", "alice", T0 / 1000 - 1, T0);
    expect(cache.size).toBe(0);
  });

  it("never answers a token verified under other settings", () => {
    const cache = new VerifiedTokenCache<string>();
    cache.set("secret-a", "tok", "alice", T0 / 1000 + 60, T0);
    expect(cache.get("secret-b", "tok", T0)).toBeUndefined();
    expect(cache.get("secret-a", "tok", T0)).toBe("alice");
  });

  it("drops the oldest entries past its bound", () => {
    const cache = new VerifiedTokenCache<number>(3);
    for (let i = 0; i < 5; i++) cache.set("s", `t${i}`, i, T0 / 1000 + 60, T0);
    expect(cache.size).toBe(3);
    expect(cache.get("s", "t0", T0)).toBeUndefined();
    expect(cache.get("s", "t1", T0)).toBeUndefined();
    expect(cache.get("s", "t4", T0)).toBe(4);
  });
});
