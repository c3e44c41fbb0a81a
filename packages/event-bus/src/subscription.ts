import { z } from "zod";
import { MAX_EVENT_BYTES, StreamName } from "./envelope.ts";
import { partitionStream } from "./partitions.ts";

/** Consumer group names. */
export const GroupName = z.string().regex(/^[a-z0-9._-]{1,64}$/, "group names are 1-64 characters of a-z, 0-9, '.', '_' or '-'");

/** Where a subscription delivers: a service reached through its binding, or an HTTPS URL. */
export const Target = z.union([
  z.object({ service: z.string().regex(/^[a-z0-9-]{1,64}$/) }).strict(),
  z.object({ url: z.url({ protocol: /^https?$/ }).max(2048) }).strict(),
]);
/** Where a subscription delivers. */
export type Target = z.infer<typeof Target>;

/** Largest request body a subscription's deliveries may have by default: what a service on the kit accepts. */
export const DEFAULT_MAX_BATCH_BYTES = 1024 * 1024;

/** Body of `POST /api/foundation/subscriptions`. */
export const SubscriptionInput = z
  .object({
    stream: StreamName,
    group: GroupName,
    target: Target,
    maxDeliveries: z.number().int().min(1).max(100).default(5),
    batchSize: z.number().int().min(1).max(1000).default(100),
    retryBackoffMs: z.number().int().min(10).max(3_600_000).default(1000),
    maxBackoffMs: z.number().int().min(10).max(86_400_000).default(300_000),
    timeoutMs: z.number().int().min(100).max(30_000).default(10_000),
    startAt: z.enum(["new", "beginning"]).default("new"),
    /**
     * How a URL receives events: `batch` (CloudEvents JSON batch format, `application/cloudevents-batch+json`) or
     * `binary` (CloudEvents binary mode, one event per request: attributes as `ce-` headers, the data as the body;
     * needs `batchSize: 1`).
     */
    mode: z.enum(["batch", "binary"]).default("batch"),
    /** Largest request body; a batch is split to stay under it, and an event larger than it goes alone. */
    maxBatchBytes: z
      .number()
      .int()
      .min(MAX_EVENT_BYTES)
      .max(10 * 1024 * 1024)
      .default(DEFAULT_MAX_BATCH_BYTES),
  })
  .strict()
  .refine((s) => s.mode === "batch" || ("url" in s.target && s.batchSize === 1), {
    message: "binary mode delivers one event per request to a URL: it needs a url target and batchSize 1",
    path: ["mode"],
  });
/** A subscription as its creator asked for it, defaults filled in. */
export type SubscriptionInput = z.infer<typeof SubscriptionInput>;
/**
 * A subscription as configured. A URL target's Standard Webhooks secret is kept sealed (see `sealSecret`), with the
 * previous one until `previousUntil` after a rotation; neither is ever shown after creation.
 */
export type SubscriptionConfig = SubscriptionInput & {
  id: string;
  secret?: string;
  previousSecret?: { sealed: string; until: number };
};

/**
 * The Redis stream holding a stream's dead letters. Its name is outside the stream-name alphabet (`:`), so no
 * publisher can write to it or replay it: only the admin dead-letter routes reach it.
 * @example deadLetterStream("orders~2") // "dlq:orders~2"
 */
export function deadLetterStream(stream: string): string {
  return `dlq:${stream}`;
}

/**
 * About how many dead letters a dead-letter stream keeps: each write trims it (approximate `MAXLEN ~`, so Redis
 * drops whole nodes and the stream may hold a few more), oldest letters first. It bounds the memory a target
 * that fails for days can take; letters past it are lost unless redriven before.
 */
export const DEAD_LETTER_MAX_LEN = 100_000;

/** The name of the Durable Object that drives a (stream, group). */
export function consumerObjectName(stream: string, group: string): string {
  return `${stream}|${group}`;
}

/** The consumer group that copies a stream's events into the Postgres event store (reserved). */
export const ARCHIVER_GROUP = "archiver";

/** Where a consumer delivers: a subscription's target, or the Postgres event store for the archiver. */
export type ConsumerTarget = Target | { archive: true };

/**
 * What a consumer Durable Object runs: a subscription, or the archiver of a stream. `stream` is the Redis
 * stream it reads (a partition's own stream for a partitioned topic); `topic`, when set, is the name the
 * events were published to, which is what deliveries carry.
 */
export type ConsumerConfig = Omit<SubscriptionConfig, "target"> & { target: ConsumerTarget; topic?: string };

/**
 * The consumer config of partition `index` of a subscription on a topic with `count` partitions: it reads
 * the partition's stream and delivers under the topic's name. `startAt` overrides the subscription's (a
 * partition that a consumer meets only after the partition count grew is read from its beginning, so none
 * of its events are skipped).
 * @example partitionConsumer(sub, 2, 4).stream // "orders~2"
 */
export function partitionConsumer(config: SubscriptionConfig, index: number, count: number, startAt = config.startAt): ConsumerConfig {
  return {
    ...config,
    startAt,
    stream: partitionStream(config.stream, index, count),
    ...(count > 1 ? { topic: config.stream } : {}),
  };
}

/** The consumer configs of every partition of a subscription's topic, in partition order. */
export function partitionConsumers(config: SubscriptionConfig, count: number): ConsumerConfig[] {
  return Array.from({ length: count }, (_, i) => partitionConsumer(config, i, count));
}

/**
 * The archiver of a stream: reads from the beginning (so nothing published before it existed is missed),
 * large batches, and many patient retries, so a Postgres outage delays the archive instead of
 * dead-lettering events.
 * @example archiverConfig("ai.responses.raw").group // "archiver"
 */
export function archiverConfig(stream: string): ConsumerConfig {
  return {
    id: `archiver:${stream}`,
    stream,
    group: ARCHIVER_GROUP,
    target: { archive: true },
    maxDeliveries: 100,
    batchSize: 500,
    retryBackoffMs: 1000,
    maxBackoffMs: 300_000,
    timeoutMs: 10_000,
    startAt: "beginning",
    mode: "batch",
    maxBatchBytes: DEFAULT_MAX_BATCH_BYTES,
  };
}
