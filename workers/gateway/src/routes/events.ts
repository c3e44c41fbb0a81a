import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import {
  archiverConfig,
  ARCHIVER_GROUP,
  consumerObjectName,
  deadLetterStream,
  EventInput,
  parseEntries,
  parseRetentionConfig,
  publishEvents,
  replayEvents,
  retentionFor,
  STREAM_ID,
  StreamName,
  toEnvelope,
  type CloudEvent,
  type RetentionConfig,
  type StoredEvent,
  type StreamRetention,
} from "@foundation/event-bus";
import { createDb, subscriptions } from "@foundation/db";
import { eq } from "drizzle-orm";
import { errorFields, HttpProblem, jsonBodiesOnly, redisFrom, requireAuth } from "@foundation/service-kit";
import type { Context } from "hono";
import { readArchive } from "../event-store.ts";
import { eventMetrics } from "../metrics.ts";
import { PokeCoalescer } from "../consumers/poke-coalescer.ts";
import type { GatewayEnv } from "./index.ts";

const StreamParams = z.object({ stream: StreamName });
const IdempotencyHeaders = z.object({
  "idempotency-key": z
    .string()
    .regex(/^[\x21-\x7e]{1,255}$/)
    .optional(),
});
const Accepted = z.object({ id: z.string(), streamId: z.string(), duplicate: z.boolean() }).openapi("EventAccepted");
const BatchAccepted = z
  .object({ ids: z.array(z.string()), streamIds: z.array(z.string()), duplicate: z.boolean() })
  .openapi("EventBatchAccepted");
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
  summary: "Replay a stream in order (from the Postgres event store where Redis has trimmed it already)",
  security: [{ bearer: [] }],
  request: {
    params: StreamParams,
    query: z.object({
      after: z.string().regex(STREAM_ID).optional(),
      limit: z.coerce.number().int().min(1).max(1000).default(100),
      subject: z.string().min(1).max(512).optional(),
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
  originalId: string;
  group: string;
  deliveries: number;
  lastError: string;
  event: CloudEvent | null;
}

async function readDeadLetters(c: Context<GatewayEnv>, stream: string, limit: number): Promise<DeadLetter[]> {
  const raw = (await redisFrom(c.env).xrange(deadLetterStream(stream), "-", "+", limit)) as unknown as Array<[string, string[]]>;
  return raw.map(([dlqId, flat]) => {
    const f: Record<string, string> = {};
    for (let i = 0; i + 1 < flat.length; i += 2) f[flat[i] ?? ""] = flat[i + 1] ?? "";
    return {
      dlqId,
      originalId: f.originalId ?? "",
      group: f.group ?? "",
      deliveries: Number(f.deliveries ?? 0),
      lastError: f.lastError ?? "",
      event: f.event ? (JSON.parse(f.event) as CloudEvent) : null,
    };
  });
}

const groupsByStream = new Map<string, { groups: string[]; at: number }>();

/** The subscribed groups of a stream, cached for 5 s per isolate; empty when Postgres cannot say. */
async function subscribedGroups(c: Context<GatewayEnv>, stream: string): Promise<string[]> {
  const cached = groupsByStream.get(stream);
  if (cached && Date.now() - cached.at < 5000) return cached.groups;
  const rows = await createDb(c.env).select({ group: subscriptions.groupName }).from(subscriptions).where(eq(subscriptions.stream, stream));
  const groups = rows.map((r) => r.group);
  groupsByStream.set(stream, { groups, at: Date.now() });
  return groups;
}

/** The consumer Durable Object of a (stream, group). */
function consumer(c: Context<GatewayEnv>, stream: string, group: string) {
  return c.env.STREAM_CONSUMER.get(c.env.STREAM_CONSUMER.idFromName(consumerObjectName(stream, group)));
}

const pokes = new PokeCoalescer();
/** Archivers this isolate has already configured; later publishes only poke them. */
const ensuredArchivers = new Set<string>();

/**
 * After a publish, wakes the stream's consumers so delivery starts now rather than at their next poll
 * (coalesced per consumer, see {@link PokeCoalescer}), and starts the stream's archiver on its first
 * publish when its retention archives it.
 */
function pokeConsumers(c: Context<GatewayEnv>, stream: string, retention: StreamRetention): void {
  const wake = (group: string) => {
    const stub = consumer(c, stream, group);
    const name = consumerObjectName(stream, group);
    if (group === ARCHIVER_GROUP && !ensuredArchivers.has(name)) {
      return stub.ensure(archiverConfig(stream)).then(() => void ensuredArchivers.add(name));
    }
    return pokes.poke(name, () => stub.poke()) ?? Promise.resolve();
  };
  c.var.defer(
    Promise.all([
      retention.archive ? wake(ARCHIVER_GROUP) : Promise.resolve(),
      subscribedGroups(c, stream).then((groups) => Promise.all(groups.map(wake))),
    ]),
  );
}

let parsedRetention: { json: string | undefined; config: RetentionConfig } | undefined;

/** The retention of a stream under this env's `STREAM_RETENTION`, parsed once per isolate. */
function streamRetention(c: Context<GatewayEnv>, stream: string): StreamRetention {
  const json = c.env.STREAM_RETENTION;
  if (parsedRetention?.json !== json) parsedRetention = { json, config: parseRetentionConfig(json) };
  return retentionFor(stream, parsedRetention.config);
}

/** Whether stream id `a` comes before `b`. */
function before(a: string, b: string): boolean {
  const [am = 0, as = 0] = a.split("-").map(Number);
  const [bm = 0, bs = 0] = b.split("-").map(Number);
  return am < bm || (am === bm && as < bs);
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

/**
 * Publishes with the stream's retention, counts it, logs entries that retention held back, and pokes the
 * stream's consumers; any Redis failure becomes a 503 the caller can retry with the same Idempotency-Key.
 */
async function publish(c: Context<GatewayEnv>, stream: string, events: CloudEvent[], idempotencyKey: string | undefined) {
  const retention = streamRetention(c, stream);
  try {
    const result = await publishEvents(redisFrom(c.env), stream, events, { idempotencyKey, publisher: c.var.auth.subject, retention });
    (result.duplicate ? eventMetrics.duplicates : eventMetrics.published).inc({ stream }, events.length);
    if (result.retention) {
      const { heldBack, trimmed } = result.retention;
      eventMetrics.heldBack.set({ stream }, heldBack);
      if (trimmed > 0) eventMetrics.trimmed.inc({ stream }, trimmed);
      if (heldBack > 0) c.var.log.warn("retention held back entries a consumer group still needs", { stream, heldBack, trimmed });
    }
    pokeConsumers(c, stream, retention);
    return result;
  } catch (err) {
    if (err instanceof RangeError) throw new HttpProblem(413, { slug: "event-too-large", detail: err.message });
    c.var.log.error("publish failed", { stream, ...errorFields(err) });
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
  return c.json({ id: event.id, streamId: result.streamIds[0] ?? "", duplicate: result.duplicate }, 202);
});

eventsRoutes.openapi(batchRoute, async (c) => {
  const { stream } = c.req.valid("param");
  const events = envelopes(c, c.req.valid("json"));
  const result = await publish(c, stream, events, c.req.valid("header")["idempotency-key"]);
  return c.json({ ids: events.map((e) => e.id), streamIds: result.streamIds, duplicate: result.duplicate }, 202);
});

eventsRoutes.openapi(replayRoute, async (c) => {
  const { stream } = c.req.valid("param");
  const { after, limit, subject } = c.req.valid("query");
  const page = await replay(c, stream, { after, limit, subject });
  return c.json({ events: page.events.map((e) => ({ streamId: e.streamId, ...e.event })), next: page.next }, 200);
});

eventsRoutes.openapi(dlqRoute, async (c) => {
  const { stream } = c.req.valid("param");
  return c.json({ deadLetters: await readDeadLetters(c, stream, c.req.valid("query").limit) }, 200);
});

eventsRoutes.openapi(redriveRoute, async (c) => {
  const { stream } = c.req.valid("param");
  const letters = (await readDeadLetters(c, stream, c.req.valid("query").limit)).filter((l) => l.event !== null);
  const once = [...new Map(letters.map((l) => [l.originalId, l.event as CloudEvent])).values()];
  if (letters.length > 0) {
    await publish(c, stream, once, undefined);
    await redisFrom(c.env).xdel(
      deadLetterStream(stream),
      letters.map((l) => l.dlqId),
    );
  }
  return c.json({ count: once.length }, 202);
});
