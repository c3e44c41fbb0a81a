import { describe, expect, it } from "vitest";
import { DEFAULT_REDIS_TIMEOUT_MS, redisTimeoutMs } from "./redis.ts";

describe("redisTimeoutMs", () => {
  it("reads REDIS_TIMEOUT_MS, and takes the default when it is unset, empty or not a positive integer", () => {
    expect(redisTimeoutMs({ REDIS_TIMEOUT_MS: "750" })).toBe(750);
    for (const value of [undefined, "", "0", "-5", "1.5", "soon"]) {
      expect(redisTimeoutMs({ REDIS_TIMEOUT_MS: value }), String(value)).toBe(DEFAULT_REDIS_TIMEOUT_MS);
    }
  });
});
