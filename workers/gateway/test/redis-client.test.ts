/**
 * The Redis client every worker uses (`redisFrom`), against the local Upstash endpoint: one HTTP request per
 * command, so a command's error is Redis's own message and commands are never merged behind the caller's back.
 */
import { env } from "cloudflare:test";
import { redisFrom } from "@foundation/service-kit";
import { describe, expect, it } from "vitest";

describe("redisFrom", () => {
  it("sends each command on its own, without auto-pipelining, and surfaces Redis's error as it is", async () => {
    const redis = redisFrom(env);
    const key = `test:client:${crypto.randomUUID()}`;
    // One after the other: two commands sent at once are two requests, and either may reach Redis first.
    expect(await redis.set(key, "text")).toBe("OK");
    const [wrongType] = await Promise.allSettled([redis.incr(key)]);
    // An auto-pipelined client answers `Command failed: ERR …` and counts the pipelines it sent.
    expect(wrongType.status === "rejected" && (wrongType.reason as Error).message).toMatch(/^ERR value is not an integer/);
    expect((redis as unknown as { pipelineCounter?: number }).pipelineCounter).toBeUndefined();
    await redis.del(key);
  });
});
