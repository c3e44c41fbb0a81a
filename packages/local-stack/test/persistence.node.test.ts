/**
 * The dev profile keeps what Redis accepted, as `npm run dev` promises: streams, consumer groups with their pending
 * entries and idempotency records outlive a restart of the whole stack, and a redis-server killed outright loses at
 * most the last second (the append-only file is synced once a second).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "@upstash/redis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startLocalStack, type LocalStack } from "../src/index.ts";

let root: string;
let stack: LocalStack | undefined;

const startDev = () => startLocalStack({ root, profile: "dev", log: () => {} });
const clientOf = (s: LocalStack) => new Redis({ url: s.upstash.url, token: s.upstash.token, automaticDeserialization: false });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "foundation-dev-stack-"));
});
afterAll(async () => {
  await stack?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe("a dev stack restarted", () => {
  it("still has the streams, groups with their pending entries, and idempotency records written before the restart", async () => {
    stack = await startDev();
    let redis = clientOf(stack);
    const first = await redis.xadd("orders", "*", { event: "1" });
    await redis.xadd("orders", "*", { event: "2" });
    await redis.xgroup("orders", { type: "CREATE", group: "billing", id: "0" });
    await redis.xreadgroup("billing", "consumer-1", "orders", ">", { count: 1 });
    await redis.set("idempotency:orders:producer:key-1", first, { ex: 3600 });

    await stack.stop();
    stack = await startDev();
    redis = clientOf(stack);

    expect(await redis.xlen("orders")).toBe(2);
    expect(((await redis.xpending("orders", "billing", "-", "+", 10)) as Array<[string]>).map(([id]) => id)).toEqual([first]);
    expect(await redis.get("idempotency:orders:producer:key-1")).toBe(first);
    expect(await redis.ttl("idempotency:orders:producer:key-1")).toBeGreaterThan(3500);
  });

  it("keeps, after redis-server is killed outright (SIGKILL), a write made more than a second before", async () => {
    const running = stack ?? (stack = await startDev());
    const redis = clientOf(running);
    await redis.xadd("crash", "*", { event: "kept" });
    await sleep(1500);
    const pid = Number(readFileSync(join(running.dataDir, "redis", "redis-server.pid"), "utf8"));
    process.kill(pid, "SIGKILL");
    // Gone from /proc once Node has reaped it: only then does the stack know it is no longer running.
    while (existsSync(`/proc/${pid}`)) await sleep(10);
    await running.startRedis();

    expect(await redis.xlen("crash")).toBe(1);
  });
});
