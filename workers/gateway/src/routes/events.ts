import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { EventInput, publishEvents, replayEvents, STREAM_ID, StreamName, toEnvelope, type CloudEvent } from "@foundation/event-bus";
import { errorFields, HttpProblem, jsonBodiesOnly, redisFrom, requireAuth } from "@foundation/service-kit";
import type { Context } from "hono";
import type { GatewayEnv } from "./index.ts";

/** Approximate retention of every stream, in entries, until per-stream retention is configurable. */
const DEFAULT_MAX_LEN = 1_000_000;

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
  summary: "Replay a stream in order",
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

/** Publishes, turning any Redis failure into a 503 the caller can retry with the same Idempotency-Key. */
async function publish(c: Context<GatewayEnv>, stream: string, events: CloudEvent[], idempotencyKey: string | undefined) {
  try {
    return await publishEvents(redisFrom(c.env), stream, events, {
      idempotencyKey,
      publisher: c.var.auth.subject,
      maxLen: DEFAULT_MAX_LEN,
    });
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
  const page = await replayEvents(redisFrom(c.env), stream, { after, limit, subject });
  return c.json({ events: page.events.map((e) => ({ streamId: e.streamId, ...e.event })), next: page.next }, 200);
});
