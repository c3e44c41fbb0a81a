import { compareStreamIds, redisFrom, streamEntries } from "@foundation/core";
import { parseStoredEvent } from "./delivery.ts";
import type { CloudEvent } from "./envelope.ts";
import type { BusContext } from "./env.ts";
import { partitionCount, partitionStream } from "./partitions.ts";
import { wakeConsumer } from "./consumer/wake.ts";
import { ARCHIVER_GROUP, archiverConfig, deadLetterStream, partitionConsumer } from "./subscription.ts";
import { topicSubscriptions } from "./subscriptions.ts";

/** A dead letter as the consumer wrote it. */
export interface DeadLetter {
  dlqId: string;
  /** The partition whose dead-letter stream holds it (0 for an unpartitioned topic). */
  partition: number;
  originalId: string;
  group: string;
  deliveries: number;
  lastError: string;
  /** The event, or null when its stored text is not a JSON object. */
  event: CloudEvent | null;
}

/** A dead letter with the event's text as it was stored, which a redrive writes back unchanged. */
interface StoredLetter extends DeadLetter {
  json: string;
}

/**
 * The oldest `limit` dead letters of a topic, across its partitions (by the time they were dead-lettered).
 * @example const letters = await readDeadLetters(bus, "orders", 100);
 */
export async function readDeadLetters(bus: BusContext, topic: string, limit: number): Promise<DeadLetter[]> {
  return (await storedLetters(bus, topic, limit)).map(({ json: _json, ...letter }) => letter);
}

async function storedLetters(bus: BusContext, topic: string, limit: number): Promise<StoredLetter[]> {
  const count = partitionCount(topic, bus.settings.partitions);
  const redis = redisFrom(bus.env);
  const perPartition = await Promise.all(
    Array.from({ length: count }, async (_, partition) => {
      const entries = streamEntries(await redis.xrange(deadLetterStream(partitionStream(topic, partition, count)), "-", "+", limit));
      return entries.map(({ id, fields: f }): StoredLetter => ({
        dlqId: id,
        partition,
        originalId: f.originalId ?? "",
        group: f.group ?? "",
        deliveries: Number(f.deliveries ?? 0),
        lastError: f.lastError ?? "",
        event: f.event ? (parseStoredEvent(f.event) ?? null) : null,
        json: f.event ?? "",
      }));
    }),
  );
  return perPartition
    .flat()
    .sort((a, b) => compareStreamIds(a.dlqId, b.dlqId) || a.partition - b.partition)
    .slice(0, limit);
}

/**
 * Delivers the oldest `limit` dead letters again, each to the group that dead-lettered it only: the event (same id,
 * same text) is appended to its partition's stream marked for that group, whose consumer delivers it while the
 * other groups skip it; then the letters are removed. A letter written twice for one entry (a crash between
 * writing it and acknowledging the entry) goes out once. Answers how many events went out.
 * @example const count = await redriveDeadLetters(bus, "orders", 100);
 */
export async function redriveDeadLetters(bus: BusContext, topic: string, limit: number): Promise<number> {
  const letters = (await storedLetters(bus, topic, limit)).filter((l) => l.event !== null);
  if (letters.length === 0) return 0;
  const count = partitionCount(topic, bus.settings.partitions);
  const once = [...new Map(letters.map((l) => [`${l.partition}:${l.originalId}:${l.group}`, l])).values()];
  // One transaction: the events go back and their letters go away together.
  const writes = redisFrom(bus.env).multi();
  for (const l of once) writes.xadd(partitionStream(topic, l.partition, count), "*", { event: l.json, group: l.group });
  for (const l of letters) writes.xdel(deadLetterStream(partitionStream(topic, l.partition, count)), [l.dlqId]);
  await writes.exec();
  bus.defer(wakeGroups(bus, topic, count, once));
  return once.length;
}

/** Wakes the consumers that have redriven events to deliver, so they need not wait for their next poll. */
async function wakeGroups(bus: BusContext, topic: string, count: number, letters: readonly StoredLetter[]): Promise<void> {
  const subscriptions = await topicSubscriptions(bus.env, topic);
  const woken = new Set<string>();
  const wakes: Promise<void>[] = [];
  for (const { partition, group } of letters) {
    if (woken.has(`${partition}:${group}`)) continue;
    woken.add(`${partition}:${group}`);
    const stream = partitionStream(topic, partition, count);
    const sub = subscriptions.find((s) => s.group === group);
    if (group === ARCHIVER_GROUP) wakes.push(wakeConsumer(bus.env, archiverConfig(stream)));
    else if (sub) wakes.push(wakeConsumer(bus.env, partitionConsumer(sub, partition, count)));
  }
  await Promise.all(wakes);
}
