import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import {
  archiverConfig,
  assignPartitions,
  consumerObjectName,
  deadLetterStream,
  EventInput,
  groupByPartition,
  parseEntries,
  parseStoredEvent,
  partitionConsumer,
  partitionOfSubject,
  partitionStream,
  publishEvents,
  replayEvents,
  spreadOffset,
  STREAM_ID,
  StreamName,
  toEnvelope,
  type CloudEvent,
  type ConsumerConfig,
  type PublishResult,
  type StoredEvent,
  type StreamRetention,
  type SubscriptionConfig,
} from "@foundation/event-bus";
import { createDb, subscriptions } from "@foundation/db";
import { eq } from "drizzle-orm";
import { errorFields, HttpProblem, jsonBodiesOnly, redisFrom, requireAuth } from "@foundation/service-kit";
import type { Context } from "hono";
import { readArchive } from "../event-store.ts";
import { eventMetrics } from "../metrics.ts";
import { PokeCoalescer } from "../consumers/poke-coalescer.ts";
import { streamRetention, topicPartitions } from "../stream-settings.ts";
import type { GatewayEnv } from "./index.ts";

const StreamParams = z.object({ stream: StreamName });
const IdempotencyHeaders = z.object({
  "idempotency-key": z
    .string()
    .regex(/^[\x21-\x7e]{1,255}$/)
    .optional(),
});
const Accepted = z
  .object({
    id: z.string(),
    streamId: z.string(),
    duplicate: z.boolean(),
    partition: z.number().int().optional().openapi({ description: "The partition the event went to (partitioned topics only)" }),
  })
  .openapi("EventAccepted");
const BatchAccepted = z
  .object({
    ids: z.array(z.string()),
    streamIds: z.array(z.string()),
    duplicate: z.boolean(),
    partitions: z
      .array(z.number().int())
      .optional()
      .openapi({ description: "The partition of each event, in input order (partitioned topics only); stream ids are per partition" }),
  })
  .openapi("EventBatchAccepted");
const PartitionQuery = z.coerce
  .number()
  .int()
  .min(0)
  .optional()
  .openapi({ description: "The partition to read, for a partitioned topic read without `subject`" });
const unavailable = { description: "Redis did not accept the write; retry with the same Idempotency-Key" };

const publishRoute = createRoute({
  method: "post",
  path: "/{stream}",
  summary: "Publish one event (CloudEvents 1.0, or {type, data, subject?})",
  security: [{ bearer: [] }],
  request: {
    params: StreamParams,
    headers: IdempotencyHeaders,
    body: { content: { "application/json": { schema: EventInput } }, required: true },
  },
  responses: { 202: { description: "Accepted by Redis", content: { "application/json": { schema: Accepted } } }, 503: unavailable },
});

const batchRoute = createRoute({
  method: "post",
  path: "/{stream}/batch",
  summary: "Publish up to 1,000 events atomically in one round trip",
  security: [{ bearer: [] }],
  request: {
    params: StreamParams,
    headers: IdempotencyHeaders,
    body: { content: { "application/json": { schema: z.array(EventInput).min(1).max(1000) } }, required: true },
  },
  responses: {
    202: { description: "All accepted by Redis", content: { "application/json": { schema: BatchAccepted } } },
    503: unavailable,
  },
});

const replayRoute = createRoute({
  method: "get",
  path: "/{stream}",
  summary:
    "Replay a stream in order (from the Postgres event store where Redis has trimmed it already); a partitioned topic by `subject` or `partition`",
  security: [{ bearer: [] }],
  request: {
    params: StreamParams,
    query: z.object({
      after: z.string().regex(STREAM_ID).optional(),
      limit: z.coerce.number().int().min(1).max(1000).default(100),
      subject: z.string().min(1).max(512).optional(),
      partition: PartitionQuery,
    }),
  },
  responses: {
    200: {
      description: "Events in stream order, and the cursor to continue from",
      content: { "application/json": { schema: z.object({ events: z.array(z.unknown()), next: z.string().nullable() }) } },
    },
  },
});

const dlqRoute = createRoute({
  method: "get",
  path: "/{stream}/dlq",
  summary: "Dead letters of a stream: original id, event, deliveries, last error (admin)",
  security: [{ bearer: [] }],
  request: { params: StreamParams, query: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) }) },
  responses: {
    200: { description: "Oldest first", content: { "application/json": { schema: z.object({ deadLetters: z.array(z.unknown()) }) } } },
  },
});

const redriveRoute = createRoute({
  method: "post",
  path: "/{stream}/dlq/redrive",
  summary: "Publish dead letters again (same event ids, once per original entry) and remove them from the dead-letter stream (admin)",
  security: [{ bearer: [] }],
  request: { params: StreamParams, query: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) }) },
  responses: { 202: { description: "Re-published", content: { "application/json": { schema: z.object({ count: z.number() }) } } } },
});

/** A dead letter as stored by the consumer. */
interface DeadLetter {
  dlqId: string;
  /** The partition whose dead-letter stream holds it (0 for an unpartitioned topic). */
  partition: number;
  originalId: string;
  group: string;
  deliveries: number;
  lastError: string;
  event: CloudEvent | null;
}

/** Whether stream id `a` comes before `b`. */
function before(a: string, b: string): boolean {
  const [am = 0, as = 0] = a.split("-").map(Number);
  const [bm = 0, bs = 0] = b.split("-").map(Number);
  return am < bm || (am === bm && as < bs);
}

/** The oldest `limit` dead letters of a topic, across its partitions (by the time they were dead-lettered). */
async function readDeadLetters(c: Context<GatewayEnv>, topic: string, limit: number): Promise<DeadLetter[]> {
  const count = topicPartitions(c.env, topic);
  const redis = redisFrom(c.env);
  const perPartition = await Promise.all(
    Array.from({ length: count }, async (_, partition) => {
      const dlq = deadLetterStream(partitionStream(topic, partition, count));
      const raw = (await redis.xrange(dlq, "-", "+", limit)) as unknown as Array<[string, string[]]>;
      return raw.map(([dlqId, flat]): DeadLetter => {
        const f: Record<string, string> = {};
        for (let i = 0; i + 1 < flat.length; i += 2) f[flat[i] ?? ""] = flat[i + 1] ?? "";
        return {
          dlqId,
          partition,
          originalId: f.originalId ?? "",
          group: f.group ?? "",
          deliveries: Number(f.deliveries ?? 0),
          lastError: f.lastError ?? "",
          event: f.event ? (parseStoredEvent(f.event) ?? null) : null,
        };
      });
    }),
  );
  return perPartition
    .flat()
    .sort((a, b) => (before(a.dlqId, b.dlqId) ? -1 : before(b.dlqId, a.dlqId) ? 1 : a.partition - b.partition))
    .slice(0, limit);
}

const subscriptionsByTopic = new Map<string, { configs: SubscriptionConfig[]; at: number }>();

/** The subscriptions of a topic, cached for 5 s per isolate; empty when Postgres cannot say. */
async function topicSubscriptions(c: Context<GatewayEnv>, topic: string): Promise<SubscriptionConfig[]> {
  const cached = subscriptionsByTopic.get(topic);
  if (cached && Date.now() - cached.at < 5000) return cached.configs;
  const rows = await createDb(c.env).select({ config: subscriptions.config }).from(subscriptions).where(eq(subscriptions.stream, topic));
  const configs = rows.map((r) => r.config as SubscriptionConfig);
  subscriptionsByTopic.set(topic, { configs, at: Date.now() });
  return configs;
}

const pokes = new PokeCoalescer();
/** Consumers this isolate has already made sure of; later publishes only poke them. */
const ensuredConsumers = new Set<string>();
/** Consumer object ids by name: `idFromName` hashes the name, and a busy topic wakes its consumers on every publish. */
const consumerIds = new Map<string, DurableObjectId>();

/**
 * Wakes one consumer object. The first time an isolate meets it, it is configured if it is not yet (the
 * archiver of a stream on its first publish; a partition that appeared when a topic's partition count
 * grew), which pokes it as well; afterwards pokes are coalesced (see {@link PokeCoalescer}).
 */
function wakeConsumer(c: Context<GatewayEnv>, config: ConsumerConfig): Promise<void> {
  const name = consumerObjectName(config.stream, config.group);
  let id = consumerIds.get(name);
  if (!id) consumerIds.set(name, (id = c.env.STREAM_CONSUMER.idFromName(name)));
  const stub = c.env.STREAM_CONSUMER.get(id);
  if (!ensuredConsumers.has(name)) return stub.ensure(config).then(() => void ensuredConsumers.add(name));
  return pokes.poke(name, () => stub.poke()) ?? Promise.resolve();
}

/**
 * After a publish, wakes the consumers of the partitions it wrote to, so delivery starts now rather than
 * at their next poll, and the partitions' archivers when the topic's retention archives it.
 */
function pokeConsumers(c: Context<GatewayEnv>, topic: string, count: number, written: readonly number[], retention: StreamRetention): void {
  c.var.defer(
    Promise.all([
      ...(retention.archive ? written.map((p) => wakeConsumer(c, archiverConfig(partitionStream(topic, p, count)))) : []),
      topicSubscriptions(c, topic).then((subs) =>
        Promise.all(subs.flatMap((sub) => written.map((p) => wakeConsumer(c, partitionConsumer(sub, p, count, "beginning"))))),
      ),
    ]),
  );
}

/**
 * The Redis stream a replay reads: the topic's own for an unpartitioned topic; for a partitioned one, the
 * partition of `subject` (where all its events are, in order) or the partition asked for.
 */
function replayStream(c: Context<GatewayEnv>, topic: string, subject: string | undefined, partition: number | undefined): string {
  const count = topicPartitions(c.env, topic);
  if (partition !== undefined && partition >= count) {
    throw new HttpProblem(400, {
      slug: "unknown-partition",
      detail: `Stream "${topic}" has ${count} partition(s); ${partition} does not exist.`,
    });
  }
  if (count === 1) return topic;
  if (subject !== undefined) {
    const own = partitionOfSubject(subject, count);
    if (partition !== undefined && partition !== own) {
      throw new HttpProblem(400, {
        slug: "unknown-partition",
        detail: `Events of subject "${subject}" are in partition ${own} of "${topic}", not ${partition}.`,
      });
    }
    return partitionStream(topic, own, count);
  }
  if (partition === undefined) {
    throw new HttpProblem(400, {
      slug: "partition-required",
      detail: `Stream "${topic}" has ${count} partitions; replay one \`subject\` (kept in order in its partition) or one \`partition\` (0-${count - 1}).`,
    });
  }
  return partitionStream(topic, partition, count);
}

/**
 * Replays a stream in order. Where Redis has trimmed the stream past the requested position, the events
 * before its first entry come from the Postgres event store first; a 503 when that store cannot answer,
 * rather than a replay with a silent gap.
 */
async function replay(
  c: Context<GatewayEnv>,
  stream: string,
  options: { after?: string; limit: number; subject?: string },
): Promise<{ events: StoredEvent[]; next: string | null }> {
  const redis = redisFrom(c.env);
  const [first] = parseEntries(await redis.xrange(stream, "-", "+", 1));
  let archived: StoredEvent[] = [];
  if (!first || !options.after || before(options.after, first.streamId)) {
    try {
      archived = await readArchive(c.env, stream, { ...options, before: first?.streamId });
    } catch (err) {
      c.var.log.error("event store replay failed", { stream, ...errorFields(err) });
      throw new HttpProblem(503, {
        slug: "event-store-unavailable",
        detail: "Part of this stream is only in the event store, which did not answer; retry.",
        headers: { "Retry-After": "1" },
      });
    }
  }
  const last = archived.at(-1)?.streamId;
  if (archived.length === options.limit) return { events: archived, next: last ?? null };
  const page = await replayEvents(redis, stream, { ...options, after: last ?? options.after, limit: options.limit - archived.length });
  return { events: [...archived, ...page.events], next: page.next };
}

/** Completes inputs into envelopes with this request's publisher and correlation ID. */
function envelopes(c: Context<GatewayEnv>, inputs: EventInput[]): CloudEvent[] {
  const ctx = {
    source: `/foundation/publishers/${c.var.auth.subject}`,
    correlationId: c.var.correlationId,
    now: Date.now,
    newId: () => crypto.randomUUID(),
  };
  return inputs.map((input) => toEnvelope(input, ctx));
}

/** Counts one partition's publish and reports what its retention check did. */
function recordPublish(c: Context<GatewayEnv>, topic: string, stream: string, count: number, result: PublishResult): void {
  (result.duplicate ? eventMetrics.duplicates : eventMetrics.published).inc({ stream: topic }, count);
  if (!result.retention) return;
  const { heldBack, trimmed } = result.retention;
  eventMetrics.heldBack.set({ stream }, heldBack);
  if (trimmed > 0) eventMetrics.trimmed.inc({ stream }, trimmed);
  if (heldBack > 0) c.var.log.warn("retention held back entries a consumer group still needs", { stream, heldBack, trimmed });
}

/** What a publish answers: stream ids in input order, and the partition of each event for a partitioned topic. */
interface TopicPublishResult {
  streamIds: string[];
  partitions?: number[];
  duplicate: boolean;
}

/**
 * Publishes to a topic with its retention, counts it, and pokes its consumers; any Redis failure becomes
 * a 503 the caller can retry with the same Idempotency-Key. A partitioned topic's events are placed by
 * subject (round-robin from the key's hash without one) and each partition is written atomically, in
 * parallel; a retry with the same key places every event as before and writes only what is missing.
 */
async function publish(
  c: Context<GatewayEnv>,
  topic: string,
  events: CloudEvent[],
  idempotencyKey: string | undefined,
): Promise<TopicPublishResult> {
  const retention = streamRetention(c.env, topic);
  const count = topicPartitions(c.env, topic);
  const redis = redisFrom(c.env);
  const placement = assignPartitions(events, count, spreadOffset(idempotencyKey));
  const groups = groupByPartition(events, placement);
  const streamIds = new Array<string>(events.length).fill("");
  try {
    const duplicates = await Promise.all(
      [...groups].map(async ([partition, group]) => {
        const stream = partitionStream(topic, partition, count);
        const result = await publishEvents(
          redis,
          stream,
          group.map((g) => g.item),
          { idempotencyKey, publisher: c.var.auth.subject, retention },
        );
        group.forEach((g, i) => (streamIds[g.position] = result.streamIds[i] ?? ""));
        recordPublish(c, topic, stream, group.length, result);
        return result.duplicate;
      }),
    );
    pokeConsumers(c, topic, count, [...groups.keys()], retention);
    return { streamIds, duplicate: duplicates.every(Boolean), ...(count > 1 ? { partitions: placement } : {}) };
  } catch (err) {
    if (err instanceof RangeError) throw new HttpProblem(413, { slug: "event-too-large", detail: err.message });
    c.var.log.error("publish failed", { stream: topic, ...errorFields(err) });
    throw new HttpProblem(503, {
      slug: "event-bus-unavailable",
      detail: "The event was not stored; retry with the same Idempotency-Key.",
      headers: { "Retry-After": "1" },
    });
  }
}

/** `/api/foundation/events`: publish (scope `publish`) and replay (any valid token). */
export const eventsRoutes = new OpenAPIHono<GatewayEnv>();
eventsRoutes.use(jsonBodiesOnly());
eventsRoutes.on("POST", ["/:stream", "/:stream/batch"], requireAuth({ anyOf: ["publish"] }));
eventsRoutes.on("GET", "/:stream", requireAuth());
const admin = requireAuth({ anyOf: ["admin"] });
eventsRoutes.get("/:stream/dlq", admin);
eventsRoutes.post("/:stream/dlq/redrive", admin);

eventsRoutes.openapi(publishRoute, async (c) => {
  const { stream } = c.req.valid("param");
  const [event] = envelopes(c, [c.req.valid("json")]);
  if (!event) throw new HttpProblem(400, { detail: "No event in the body." });
  const result = await publish(c, stream, [event], c.req.valid("header")["idempotency-key"]);
  const partition = result.partitions?.[0];
  return c.json(
    { id: event.id, streamId: result.streamIds[0] ?? "", duplicate: result.duplicate, ...(partition === undefined ? {} : { partition }) },
    202,
  );
});

eventsRoutes.openapi(batchRoute, async (c) => {
  const { stream } = c.req.valid("param");
  const events = envelopes(c, c.req.valid("json"));
  const result = await publish(c, stream, events, c.req.valid("header")["idempotency-key"]);
  return c.json({ ids: events.map((e) => e.id), ...result }, 202);
});

eventsRoutes.openapi(replayRoute, async (c) => {
  const { stream } = c.req.valid("param");
  const { after, limit, subject, partition } = c.req.valid("query");
  const page = await replay(c, replayStream(c, stream, subject, partition), { after, limit, subject });
  return c.json({ events: page.events.map((e) => ({ streamId: e.streamId, ...e.event })), next: page.next }, 200);
});

eventsRoutes.openapi(dlqRoute, async (c) => {
  const { stream } = c.req.valid("param");
  return c.json({ deadLetters: await readDeadLetters(c, stream, c.req.valid("query").limit) }, 200);
});

eventsRoutes.openapi(redriveRoute, async (c) => {
  const { stream } = c.req.valid("param");
  const letters = (await readDeadLetters(c, stream, c.req.valid("query").limit)).filter((l) => l.event !== null);
  // Once per original entry (ids are per partition), however many groups dead-lettered it.
  const once = [...new Map(letters.map((l) => [`${l.partition}:${l.originalId}`, l.event as CloudEvent])).values()];
  if (letters.length > 0) {
    await publish(c, stream, once, undefined);
    const count = topicPartitions(c.env, stream);
    const redis = redisFrom(c.env);
    await Promise.all(
      [
        ...groupByPartition(
          letters,
          letters.map((l) => l.partition),
        ),
      ].map(([partition, group]) =>
        redis.xdel(
          deadLetterStream(partitionStream(stream, partition, count)),
          group.map((g) => g.item.dlqId),
        ),
      ),
    );
  }
  return c.json({ count: once.length }, 202);
});
