import { env } from "cloudflare:workers";
import { entryField, redisFrom } from "@foundation/core";
import { describe, expect, it } from "vitest";
import { createGroup, readPending, writeDeadLetter } from "../src/consumer/redis-steps.ts";
import { deadLetterStream, type ConsumerConfig } from "../src/subscription.ts";

const redis = () => redisFrom(env);

/** A consumer of a fresh stream, as the dead-letter step sees it. */
function consumerOf(stream: string): ConsumerConfig {
  return {
    id: `test:${stream}`,
    stream,
    group: "g",
    target: { archive: true },
    maxDeliveries: 1,
    batchSize: 1000,
    retryBackoffMs: 20,
    maxBackoffMs: 200,
    timeoutMs: 5000,
    startAt: "beginning",
    mode: "batch",
    maxBatchBytes: 1024 * 1024,
  };
}

describe("dead-letter streams", () => {
  it("stay bounded: each write trims the stream to about its cap, dropping the oldest letters first", async () => {
    const config = consumerOf(`test.dlqcap.${crypto.randomUUID().slice(0, 8)}`);
    const cap = 10;
    const count = 250;
    await createGroup(redis(), config, "0");
    const pipeline = redis().pipeline();
    for (let i = 0; i < count; i++) pipeline.xadd(config.stream, "*", { event: JSON.stringify({ id: `e-${i}` }) });
    await pipeline.exec();
    await redis().xreadgroup(config.group, "c", config.stream, ">", { count });
    const pending = await readPending(redis(), config);
    expect(pending).toHaveLength(count);

    for (const entry of pending) await writeDeadLetter(redis(), config, entry, "boom", cap);

    const dlq = deadLetterStream(config.stream);
    const length = await redis().xlen(dlq);
    // Approximate trimming drops whole stream nodes (100 entries by default), so up to a node more than the cap stays.
    expect(length).toBeGreaterThanOrEqual(cap);
    expect(length).toBeLessThanOrEqual(cap + 100);
    const kept = entryField(await redis().xrange(dlq, "-", "+"), "originalId").map((l) => l.value);
    expect(kept).toEqual(pending.slice(count - length).map((p) => p.streamId));
    expect(await redis().xpending(config.stream, config.group, "-", "+", 10)).toEqual([]);
  });
});
