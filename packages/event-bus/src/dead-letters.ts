import { compareStreamIds, redisFrom, streamEntries } from "@foundation/core";
import { parseStoredEvent } from "./delivery.ts";
import type { CloudEvent } from "./envelope.ts";
import type { BusContext } from "./env.ts";
import { groupByPartition, partitionCount, partitionStream } from "./partitions.ts";
import { deadLetterStream } from "./subscription.ts";
import { publishToTopic } from "./topics.ts";

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

/**
 * The oldest `limit` dead letters of a topic, across its partitions (by the time they were dead-lettered).
 * @example const letters = await readDeadLetters(bus, "orders", 100);
 */
export async function readDeadLetters(bus: BusContext, topic: string, limit: number): Promise<DeadLetter[]> {
  const count = partitionCount(topic, bus.settings.partitions);
  const redis = redisFrom(bus.env);
  const perPartition = await Promise.all(
    Array.from({ length: count }, async (_, partition) => {
      const entries = streamEntries(await redis.xrange(deadLetterStream(partitionStream(topic, partition, count)), "-", "+", limit));
      return entries.map(({ id, fields: f }): DeadLetter => ({
        dlqId: id,
        partition,
        originalId: f.originalId ?? "",
        group: f.group ?? "",
        deliveries: Number(f.deliveries ?? 0),
        lastError: f.lastError ?? "",
        event: f.event ? (parseStoredEvent(f.event) ?? null) : null,
      }));
    }),
  );
  return perPartition
    .flat()
    .sort((a, b) => compareStreamIds(a.dlqId, b.dlqId) || a.partition - b.partition)
    .slice(0, limit);
}

/**
 * Publishes the oldest `limit` dead letters of a topic again (same event ids, once per original entry however
 * many groups dead-lettered it) and removes them from the dead-letter streams; answers how many events went out.
 * @example const count = await redriveDeadLetters(bus, "orders", 100, auth.subject);
 */
export async function redriveDeadLetters(bus: BusContext, topic: string, limit: number, publisher: string): Promise<number> {
  const letters = (await readDeadLetters(bus, topic, limit)).filter((l) => l.event !== null);
  if (letters.length === 0) return 0;
  // Ids are per partition: one event per original entry of each partition.
  const once = [...new Map(letters.map((l) => [`${l.partition}:${l.originalId}`, l.event as CloudEvent])).values()];
  await publishToTopic(bus, topic, once, { publisher });
  const count = partitionCount(topic, bus.settings.partitions);
  const redis = redisFrom(bus.env);
  const byPartition = groupByPartition(
    letters,
    letters.map((l) => l.partition),
  );
  await Promise.all(
    [...byPartition].map(([partition, group]) =>
      redis.xdel(
        deadLetterStream(partitionStream(topic, partition, count)),
        group.map((g) => g.item.dlqId),
      ),
    ),
  );
  return once.length;
}
