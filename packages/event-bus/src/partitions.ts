import { z } from "zod";
import { lookupByStream, parseStreamSetting, StreamPattern } from "./retention.ts";

/** Most partitions a topic may have. */
export const MAX_PARTITIONS = 256;

/**
 * The `STREAM_PARTITIONS` setting: how many partitions a topic (stream name, or prefix ending in `*`) is
 * split into. A partition is a Redis stream of its own with its own consumer object per group, so a hot
 * topic is no longer limited by what one Durable Object can deliver (about 1,000 requests/s).
 */
export const PartitionConfig = z.record(StreamPattern, z.number().int().min(1).max(MAX_PARTITIONS));
/** The `STREAM_PARTITIONS` setting. */
export type PartitionConfig = z.infer<typeof PartitionConfig>;

/**
 * Parses the `STREAM_PARTITIONS` JSON; unset or empty means every topic has one partition.
 * @example parsePartitionConfig('{"ai.responses.*": 16}')
 */
export function parsePartitionConfig(json: string | undefined): PartitionConfig {
  return parseStreamSetting("STREAM_PARTITIONS", PartitionConfig, json);
}

/** The number of partitions of `topic` (1 when no entry matches). */
export function partitionCount(topic: string, config: PartitionConfig): number {
  return lookupByStream(topic, config) ?? 1;
}

/**
 * Separates a topic from its partition number in Redis keys and consumer names. Stream names cannot
 * contain it, so a partition's key never collides with another topic.
 */
export const PARTITION_SEPARATOR = "~";

/**
 * The Redis stream of partition `index` of a topic with `count` partitions. A topic with one partition is
 * the stream of the topic's own name, so partitioning an existing topic keeps its history readable.
 * @example partitionStream("orders", 2, 4) // "orders~2"
 */
export function partitionStream(topic: string, index: number, count: number): string {
  if (!Number.isInteger(index) || index < 0 || index >= count) {
    throw new RangeError(`partition ${index} does not exist; topic ${topic} has ${count}`);
  }
  return count <= 1 ? topic : `${topic}${PARTITION_SEPARATOR}${index}`;
}

/** 32-bit FNV-1a of the UTF-8 bytes of `text`: stable across isolates, runtimes and deployments. */
export function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/**
 * The partition every event of `subject` goes to: all of a subject's events share one partition, so
 * they are stored, replayed and delivered in publish order.
 * @example partitionOfSubject("order-42", 4)
 */
export function partitionOfSubject(subject: string, count: number): number {
  return count <= 1 ? 0 : fnv1a(subject) % count;
}

/**
 * The partition of each event of a publish: by subject when it has one; events without a subject are
 * spread round-robin from `offset`. Pass an offset derived from the Idempotency-Key (see
 * {@link spreadOffset}) so a retried batch puts each event where the first attempt did, and the
 * per-partition idempotency records make the retry exactly-once.
 * @example assignPartitions([{ subject: "a" }, {}], 4, 0)
 */
export function assignPartitions(events: ReadonlyArray<{ subject?: string }>, count: number, offset: number): number[] {
  return events.map((e, position) => (e.subject !== undefined ? partitionOfSubject(e.subject, count) : (offset + position) % count));
}

/**
 * Where round-robin placement starts: fixed by the Idempotency-Key when there is one, random otherwise.
 * @example spreadOffset("req-1", Math.random)
 */
export function spreadOffset(idempotencyKey: string | undefined, random: () => number = Math.random): number {
  return idempotencyKey === undefined ? Math.floor(random() * 0x100000000) : fnv1a(idempotencyKey);
}

/** Groups items by their partition, keeping input order within each partition and each item's position. */
export function groupByPartition<T>(items: readonly T[], partitions: readonly number[]): Map<number, Array<{ item: T; position: number }>> {
  const groups = new Map<number, Array<{ item: T; position: number }>>();
  items.forEach((item, position) => {
    const p = partitions[position] ?? 0;
    const group = groups.get(p) ?? [];
    group.push({ item, position });
    groups.set(p, group);
  });
  return groups;
}
