import { describe, expect, it } from "vitest";
import { DiscoveryCache } from "./discovery-cache.ts";

function clock(start = 0) {
  const c = { t: start, now: () => c.t };
  return c;
}

describe("DiscoveryCache", () => {
  it("answers from memory within the staleness bound and fetches again after it", async () => {
    const time = clock();
    const cache = new DiscoveryCache<number>({ maxStalenessMs: 1000, now: time.now });
    let source = 1;
    let loads = 0;
    const load = async () => (loads++, source);
    expect(await cache.get("k", load)).toBe(1);
    source = 2;
    time.t = 999;
    expect(await cache.get("k", load)).toBe(1);
    expect(cache.peek("k")).toBe(1);
    time.t = 1000;
    expect(cache.peek("k")).toBeUndefined();
    expect(await cache.get("k", load)).toBe(2);
    expect(loads).toBe(2);
  });

  it("fetches once for many concurrent misses (single flight)", async () => {
    const cache = new DiscoveryCache<string>({ now: clock().now });
    let loads = 0;
    const load = () => new Promise<string>((resolve) => setTimeout(() => resolve(`v${++loads}`), 5));
    const answers = await Promise.all(Array.from({ length: 50 }, () => cache.get("k", load)));
    expect(new Set(answers)).toEqual(new Set(["v1"]));
    expect(loads).toBe(1);
  });

  /** A cache that fetched "v1" at 0 and, at `at`, has a refresh of it in flight until `release` is called. */
  async function refreshingAt(at: number) {
    const time = clock();
    const cache = new DiscoveryCache<string>({ maxStalenessMs: 1000, staleWhileRevalidateMs: 5000, now: time.now });
    await cache.get("k", async () => "v1");
    time.t = at;
    let release: (v: string) => void = () => {};
    const refreshing = cache.get("k", () => new Promise<string>((r) => (release = r)));
    return { cache, refreshing, release: (v: string) => release(v) };
  }

  it("while one caller refreshes a stale key, serves the others the answer in hand (stale-while-revalidate)", async () => {
    const { cache, refreshing, release } = await refreshingAt(1500);
    let loads = 0;
    const others = await Promise.all(Array.from({ length: 10 }, () => cache.get("k", async () => `v${++loads}`)));
    expect(others).toEqual(Array(10).fill("v1"));
    expect(loads).toBe(0); // no second fetch while the first runs
    release("v2");
    expect(await refreshing).toBe("v2");
    expect(await cache.get("k", async () => "v3")).toBe("v2");
  });

  it("makes callers wait for the refresh once the answer in hand is older than staleWhileRevalidateMs", async () => {
    const { cache, refreshing, release } = await refreshingAt(5000);
    const waiting = cache.get("k", async () => "never");
    release("v2");
    expect(await Promise.all([refreshing, waiting])).toEqual(["v2", "v2"]);
  });

  it("reads its own writes: an invalidated key is fetched again, and a fetch started before is not kept", async () => {
    const cache = new DiscoveryCache<string>({ now: clock().now });
    let release: (v: string) => void = () => {};
    const slow = cache.get("k", () => new Promise<string>((r) => (release = r)));
    cache.invalidate("k");
    release("old");
    expect(await slow).toBe("old");
    expect(await cache.get("k", async () => "new")).toBe("new");
  });

  it("serves a stale answer when a fetch fails within staleIfErrorMs, and the error after that", async () => {
    const time = clock();
    const cache = new DiscoveryCache<string>({ maxStalenessMs: 1000, staleIfErrorMs: 5000, now: time.now });
    await cache.get("k", async () => "last good");
    const failing = () => Promise.reject(new Error("object unreachable"));
    time.t = 4000;
    expect(await cache.get("k", failing)).toBe("last good");
    time.t = 5000;
    await expect(cache.get("k", failing)).rejects.toThrow("object unreachable");
  });

  it("keeps at most maxEntries keys, dropping the least recently fetched", async () => {
    const cache = new DiscoveryCache<string>({ maxEntries: 2, now: clock().now });
    for (const k of ["a", "b", "c"]) await cache.get(k, async () => k);
    expect(cache.size).toBe(2);
    expect(cache.peek("a")).toBeUndefined();
    expect(cache.peek("c")).toBe("c");
  });

  it("refuses a negative staleness bound", () => {
    expect(() => new DiscoveryCache({ maxStalenessMs: -1 })).toThrow(RangeError);
  });
});
