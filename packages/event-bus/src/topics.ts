import { errorFields, HttpProblem, redisFrom } from "@foundation/core";
import { wakeConsumer } from "./consumer/wake.ts";
import { toEnvelope, type CloudEvent, type EventInput } from "./envelope.ts";
import type { BusContext } from "./env.ts";
import { eventMetrics } from "./metrics.ts";
import { assignPartitions, groupByPartition, partitionCount, partitionStream, spreadOffset } from "./partitions.ts";
import { publishEvents, type PublishResult } from "./publish.ts";
import { retentionFor, type StreamRetention } from "./retention.ts";
import { topicSubscriptions } from "./subscriptions.ts";
import { archiverConfig, partitionConsumer } from "./subscription.ts";

/** What a publish to a topic answers: stream ids in input order, and the partition of each event for a partitioned topic. */
export interface TopicPublishResult {
  streamIds: string[];
  partitions?: number[];
  duplicate: boolean;
}

/** Options of {@link publishToTopic}. */
export interface TopicPublishOptions {
  /** Who publishes: scopes the idempotency key. */
  publisher: string;
  idempotencyKey?: string;
}

/**
 * Completes inputs (`{type, data, subject?}` or whole CloudEvents) into envelopes from `publisher`, carrying the
 * request's correlation ID.
 * @example const events = completeEvents(inputs, { publisher: auth.subject, correlationId });
 */
export function completeEvents(inputs: readonly EventInput[], from: { publisher: string; correlationId: string }): CloudEvent[] {
  const ctx = {
    source: `/foundation/publishers/${from.publisher}`,
    correlationId: from.correlationId,
    now: Date.now,
    newId: () => crypto.randomUUID(),
  };
  return inputs.map((input) => toEnvelope(input, ctx));
}

/**
 * Publishes to a topic with its retention: places the events on the topic's partitions, writes each partition
 * atomically (in parallel), counts the publish and wakes the consumers after the answer. Any Redis failure becomes
 * a 503 the caller can retry with the same Idempotency-Key; a retry places every event as before and writes only
 * what is missing. An event over the size limit is a 413.
 * @example const result = await publishToTopic(bus, "orders", events, { publisher: "billing", idempotencyKey });
 */
export async function publishToTopic(
  bus: BusContext,
  topic: string,
  events: CloudEvent[],
  options: TopicPublishOptions,
): Promise<TopicPublishResult> {
  const retention = retentionFor(topic, bus.settings.retention);
  const count = partitionCount(topic, bus.settings.partitions);
  const placement = assignPartitions(events, count, spreadOffset(options.idempotencyKey));
  const groups = groupByPartition(events, placement);
  const streamIds = new Array<string>(events.length).fill("");
  try {
    const duplicates = await Promise.all(
      [...groups].map(async ([partition, group]) => {
        const stream = partitionStream(topic, partition, count);
        const result = await publishEvents(
          redisFrom(bus.env),
          stream,
          group.map((g) => g.item),
          { idempotencyKey: options.idempotencyKey, publisher: options.publisher, retention },
        );
        group.forEach((g, i) => (streamIds[g.position] = result.streamIds[i] ?? ""));
        recordPublish(bus, topic, stream, group.length, result);
        return result.duplicate;
      }),
    );
    bus.defer(wakeConsumers(bus, topic, count, [...groups.keys()], retention));
    return { streamIds, duplicate: duplicates.every(Boolean), ...(count > 1 ? { partitions: placement } : {}) };
  } catch (err) {
    if (err instanceof RangeError) throw new HttpProblem(413, { slug: "event-too-large", detail: err.message });
    bus.log.error("publish failed", { stream: topic, ...errorFields(err) });
    throw new HttpProblem(503, {
      slug: "event-bus-unavailable",
      detail: "The event was not stored; retry with the same Idempotency-Key.",
      headers: { "Retry-After": "1" },
    });
  }
}

/** Counts one partition's publish and reports what its retention check did. */
function recordPublish(bus: BusContext, topic: string, stream: string, count: number, result: PublishResult): void {
  (result.duplicate ? eventMetrics.duplicates : eventMetrics.published).inc({ stream: topic }, count);
  if (!result.retention) return;
  const { heldBack, trimmed } = result.retention;
  eventMetrics.heldBack.set({ stream }, heldBack);
  if (trimmed > 0) eventMetrics.trimmed.inc({ stream }, trimmed);
  if (heldBack > 0) bus.log.warn("retention held back entries a consumer group still needs", { stream, heldBack, trimmed });
}

/**
 * After a publish, wakes the consumers of the partitions it wrote to, so delivery starts now rather than at their
 * next poll, and the partitions' archivers when the topic's retention archives it.
 */
async function wakeConsumers(
  bus: BusContext,
  topic: string,
  count: number,
  written: readonly number[],
  retention: StreamRetention,
): Promise<void> {
  const archivers = retention.archive ? written.map((p) => wakeConsumer(bus.env, archiverConfig(partitionStream(topic, p, count)))) : [];
  const subscribers = topicSubscriptions(bus.env, topic).then((subs) =>
    Promise.all(subs.flatMap((sub) => written.map((p) => wakeConsumer(bus.env, partitionConsumer(sub, p, count, "beginning"))))),
  );
  await Promise.all([...archivers, subscribers]);
}
