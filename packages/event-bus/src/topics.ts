import { canonicalJson, errorFields, HttpProblem, QUOTA_EXCEEDED_TYPE, redisFrom, redisTimeoutMs } from "@foundation/core";
import { wakeConsumer } from "./consumer/wake.ts";
import { toEnvelope, type CloudEvent, type EventInput } from "./envelope.ts";
import type { BusContext } from "./env.ts";
import { eventMetrics } from "./metrics.ts";
import { assignPartitions, groupByPartition, partitionCount, partitionStream, spreadOffset } from "./partitions.ts";
import { PublishCoalescer } from "./coalesce.ts";
import { IdempotencyConflict, NewTopicQuotaExceeded, serialiseBatches, type PublishResult } from "./publish.ts";
import { retentionFor, type StreamRetention } from "./retention.ts";
import { cachedTopicSubscriptions, topicSubscriptions } from "./subscriptions.ts";
import { archiverConfig, partitionConsumer } from "./subscription.ts";

/** What a publish to a topic answers: event and stream ids in input order, and each event's partition for a partitioned topic. */
export interface TopicPublishResult {
  /** The events' ids as stored: a retry answers the first publish's. */
  ids: string[];
  streamIds: string[];
  partitions?: number[];
  duplicate: boolean;
}

/** Options of {@link publishToTopic}. */
export interface TopicPublishOptions {
  /** Who publishes: the events' source, and the scope of the idempotency key. */
  publisher: string;
  /** Carried by events that do not name one. */
  correlationId?: string;
  /** The W3C trace context of the publish, carried by events that have none (the distributed tracing extension). */
  traceparent?: string;
  idempotencyKey?: string;
  /** Creates new streams without counting against the publisher's hourly quota (for admins). */
  quotaExempt?: boolean;
}

/** The window of the new-stream quota (`NEW_STREAMS_PER_HOUR`). */
export const NEW_STREAM_WINDOW_MS = 3_600_000;

/**
 * Completes inputs (`{type, data, subject?}` or whole CloudEvents) into envelopes from `publisher`, carrying the
 * request's correlation ID.
 * @example const events = completeEvents(inputs, { publisher: auth.subject, correlationId });
 */
export function completeEvents(
  inputs: readonly EventInput[],
  from: { publisher: string; correlationId?: string; traceparent?: string },
): CloudEvent[] {
  const ctx = {
    source: `/foundation/publishers/${from.publisher}`,
    ...(from.correlationId === undefined ? {} : { correlationId: from.correlationId }),
    ...(from.traceparent === undefined ? {} : { traceparent: from.traceparent }),
    now: Date.now,
    newId: () => crypto.randomUUID(),
  };
  return inputs.map((input) => toEnvelope(input, ctx));
}

/**
 * The hash that identifies a publish request for its idempotency key: the topic and the inputs as sent, in a
 * canonical JSON form, so a retry of the same request matches and any other request does not.
 * @example await requestHash("orders", [{ type: "created" }])
 */
export async function requestHash(topic: string, inputs: readonly EventInput[]): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(canonicalJson([topic, inputs])));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The isolate's publishes: concurrent ones to a topic share a Redis call (group commit). */
const publishes = new PublishCoalescer();

/**
 * Publishes to a topic with its retention: completes the inputs into events, places them on the topic's
 * partitions and writes them all atomically in one script, counts the publish and wakes the consumers after the
 * answer. With an idempotency key, a retry of the same request answers exactly what the first did (ids, stream
 * ids, partitions) and writes nothing; the key with another request is a 422. A Redis failure is a 503 the
 * caller can retry with the same key; an event over the size limit is a 413.
 * @example const result = await publishToTopic(bus, "orders", inputs, { publisher: "billing", idempotencyKey });
 */
export async function publishToTopic(
  bus: BusContext,
  topic: string,
  inputs: readonly EventInput[],
  options: TopicPublishOptions,
): Promise<TopicPublishResult> {
  const events = completeEvents(inputs, options);
  const retention = retentionFor(topic, bus.settings.retention);
  const count = partitionCount(topic, bus.settings.partitions);
  const placement = assignPartitions(events, count, spreadOffset(options.idempotencyKey));
  const groups = [...groupByPartition(events, placement)];
  const hash = options.idempotencyKey === undefined ? undefined : await requestHash(topic, inputs);
  let results: PublishResult[];
  try {
    results = await publishes.publish(
      redisFrom(bus.env),
      serialiseBatches(
        groups.map(([partition, group]) => ({ stream: partitionStream(topic, partition, count), events: group.map((g) => g.item) })),
      ),
      topic,
      {
        idempotencyKey: options.idempotencyKey,
        publisher: options.publisher,
        requestHash: hash,
        retention,
        ...(options.quotaExempt ? {} : { newTopics: { limit: bus.settings.newStreamsPerHour, windowMs: NEW_STREAM_WINDOW_MS } }),
      },
      // A publish that joins a shared call waits for it at most as long as two Redis requests may take.
      { defer: bus.defer, limitMs: 2 * redisTimeoutMs(bus.env) + 1000 },
    );
  } catch (err) {
    throw publishProblem(bus, topic, err);
  }
  const ids = events.map((e) => e.id);
  const streamIds = new Array<string>(events.length).fill("");
  groups.forEach(([partition, group], i) => {
    const result = results[i];
    if (!result) return;
    group.forEach((g, j) => {
      streamIds[g.position] = result.streamIds[j] ?? "";
      ids[g.position] = result.eventIds[j] ?? ids[g.position] ?? "";
    });
    recordPublish(bus, topic, partitionStream(topic, partition, count), group.length, result);
  });
  const duplicate = results.every((r) => r.duplicate);
  // A topic this isolate knows nobody consumes (no subscription, no archiver) gets no background work: a
  // `waitUntil` and its promises cost about a tenth of a publish's CPU.
  const consumed = retention.archive || cachedTopicSubscriptions(topic)?.length !== 0;
  if (!duplicate && consumed)
    bus.defer(
      wakeConsumers(
        bus,
        topic,
        count,
        groups.map(([p]) => p),
        retention,
      ),
    );
  return { ids, streamIds, duplicate, ...(count > 1 ? { partitions: placement } : {}) };
}

/** The problem a failed publish answers: 422 for a reused key, 429 past the new-stream quota, 413 for an event too large, else 503. */
function publishProblem(bus: BusContext, topic: string, err: unknown): HttpProblem {
  if (err instanceof NewTopicQuotaExceeded) {
    const retryAfter = String(Math.max(1, Math.ceil(err.retryAfterMs / 1000)));
    return new HttpProblem(429, {
      type: QUOTA_EXCEEDED_TYPE,
      title: "Request cannot be satisfied as assigned quota has been exceeded",
      detail: `Stream "${topic}" does not exist, and this publisher has created ${err.limit} new streams within the hour (NEW_STREAMS_PER_HOUR); publish to an existing stream, or retry in ${retryAfter} s.`,
      headers: { "Retry-After": retryAfter },
    });
  }
  if (err instanceof IdempotencyConflict) {
    return new HttpProblem(422, {
      slug: "idempotency-key-reused",
      detail: "This Idempotency-Key was used with a different request; use a new key for a new request.",
    });
  }
  if (err instanceof RangeError) return new HttpProblem(413, { slug: "event-too-large", detail: err.message });
  bus.log.error("publish failed", { stream: topic, ...errorFields(err) });
  return new HttpProblem(503, {
    slug: "event-bus-unavailable",
    detail: "The event may not have been stored; retry with the same Idempotency-Key.",
    headers: { "Retry-After": "1" },
  });
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
