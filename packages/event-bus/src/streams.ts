import { forgetSeries, HttpProblem, redisFrom, shardCount } from "@foundation/core";
import { createDb, events, subscriptions } from "@foundation/db";
import { eq, inArray, sql } from "drizzle-orm";
import { consumerStub } from "./consumer/wake.ts";
import type { BusContext } from "./env.ts";
import { partitionCount, partitionStream } from "./partitions.ts";
import { KNOWN_TOPICS_KEY, retentionMarkerKey } from "./publish.ts";
import { archiverConfig, deadLetterStream, type SubscriptionConfig } from "./subscription.ts";
import { removeSubscription, stored } from "./subscriptions.ts";

/** What deleting a stream removed. */
export interface DeletedStream {
  stream: string;
  /** The partitions whose streams were deleted (1 for an unpartitioned topic). */
  partitions: number;
  /** Subscriptions deleted with their consumer groups and consumers. */
  subscriptions: number;
  /** Entries that were in Redis. */
  entries: number;
  deadLetters: number;
  /** Events deleted from the Postgres event store. */
  archivedEvents: number;
  /** Metric series of the stream dropped from the aggregated metrics. */
  metricSeries: number;
}

/**
 * Deletes a stream (a topic with all its partitions) and everything that belongs to it: its subscriptions (their
 * consumer groups, consumer objects and rows), its archiver, its entries, dead letters and retention marker in
 * Redis, its events in the Postgres event store and its metric series. Idempotency records expire on their own
 * (24 h). 404 when nothing of the stream exists; 503 when Redis or Postgres does not answer, which a retry
 * finishes. A publish afterwards creates the stream anew (and counts against its publisher's new-stream quota).
 * @example const deleted = await deleteStream(bus, "orders");
 */
export async function deleteStream(bus: BusContext, topic: string): Promise<DeletedStream> {
  const count = partitionCount(topic, bus.settings.partitions);
  const streams = Array.from({ length: count }, (_, p) => partitionStream(topic, p, count));
  const db = createDb(bus.env);
  const subs = await stored(bus, "Reading the stream's subscriptions", () =>
    db.select({ config: subscriptions.config }).from(subscriptions).where(eq(subscriptions.stream, topic)),
  );
  await stored(bus, "Deleting the stream's subscriptions", () =>
    Promise.all(subs.map((s) => removeSubscription(bus, s.config as SubscriptionConfig))),
  );
  await stored(bus, "Stopping the stream's archiver", () =>
    Promise.all(streams.map((s) => consumerStub(bus.env, archiverConfig(s)).remove())),
  );
  const redis = redisFrom(bus.env);
  const removed = await stored(bus, "Deleting the stream from Redis", async () => {
    const tx = redis.multi();
    tx.sismember(KNOWN_TOPICS_KEY, topic);
    for (const s of streams) tx.xlen(s).xlen(deadLetterStream(s));
    tx.del(...streams.flatMap((s) => [s, deadLetterStream(s), retentionMarkerKey(s)]));
    tx.srem(KNOWN_TOPICS_KEY, topic);
    return (await tx.exec()).map(Number);
  });
  const [known = 0, ...rest] = removed;
  const lengths = rest.slice(0, 2 * count);
  const keysDeleted = rest[2 * count] ?? 0;
  const archived = await stored(bus, "Deleting the stream's archived events", () =>
    db.execute<{ n: number }>(
      sql`with gone as (delete from ${events} where ${inArray(events.stream, streams)} returning 1) select count(*)::int as n from gone`,
    ),
  );
  const archivedEvents = Number(archived.rows[0]?.n ?? 0);
  if (known === 0 && keysDeleted === 0 && subs.length === 0 && archivedEvents === 0) {
    throw new HttpProblem(404, { slug: "unknown-stream", detail: `Stream "${topic}" does not exist.` });
  }
  const ns = bus.env.METRICS_AGGREGATOR;
  const metricSeries = ns ? await forgetSeries(ns, shardCount(bus.env), { stream: [...new Set([topic, ...streams])] }) : 0;
  bus.log.info("stream deleted", { stream: topic, partitions: count, subscriptions: subs.length, archivedEvents, metricSeries });
  return {
    stream: topic,
    partitions: count,
    subscriptions: subs.length,
    entries: lengths.filter((_, i) => i % 2 === 0).reduce((a, n) => a + n, 0),
    deadLetters: lengths.filter((_, i) => i % 2 === 1).reduce((a, n) => a + n, 0),
    archivedEvents,
    metricSeries,
  };
}
