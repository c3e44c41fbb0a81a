import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { HttpProblem, STREAM_ID, validationProblem } from "@foundation/core";
import {
  deleteStream,
  EventInput,
  publishToTopic,
  readDeadLetters,
  redriveDeadLetters,
  replayTopic,
  StreamName,
} from "@foundation/event-bus";
import { ADMIN_SCOPE, isJsonMediaType, jsonBodiesOnly, requireAuth } from "@foundation/service-kit";
import type { Context } from "hono";
import type { GatewayEnv } from "../env.ts";
import { busOf } from "../bus.ts";

const StreamParams = z.object({ stream: StreamName });
const EventBatch = z.array(EventInput).min(1).max(1000);
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
const keyReused = { description: "The Idempotency-Key was used with a different request; nothing was written" };
const quotaExceeded = {
  description:
    "The stream does not exist and the publisher has created NEW_STREAMS_PER_HOUR streams within the hour (IETF `quota-exceeded` problem, `Retry-After`); nothing was written",
};

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
  responses: {
    202: {
      description: "Accepted by Redis; a retry with the same Idempotency-Key answers the same",
      content: { "application/json": { schema: Accepted } },
    },
    422: keyReused,
    429: quotaExceeded,
    503: unavailable,
  },
});

const batchRoute = createRoute({
  method: "post",
  path: "/{stream}/batch",
  summary: "Publish up to 1,000 events atomically in one round trip",
  security: [{ bearer: [] }],
  request: {
    params: StreamParams,
    headers: IdempotencyHeaders,
    body: { content: { "application/json": { schema: EventBatch } }, required: true },
  },
  responses: {
    202: {
      description: "All accepted by Redis; a retry with the same Idempotency-Key answers the same",
      content: { "application/json": { schema: BatchAccepted } },
    },
    422: keyReused,
    429: quotaExceeded,
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
  summary:
    "Deliver dead letters again, each to the group that dead-lettered it (same event ids), and remove them from the dead-letter stream (admin)",
  security: [{ bearer: [] }],
  request: { params: StreamParams, query: z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) }) },
  responses: { 202: { description: "Re-published", content: { "application/json": { schema: z.object({ count: z.number() }) } } } },
});

const DeletedStream = z
  .object({
    stream: z.string(),
    partitions: z.number().int(),
    subscriptions: z.number().int(),
    entries: z.number().int(),
    deadLetters: z.number().int(),
    archivedEvents: z.number().int(),
    metricSeries: z.number().int(),
  })
  .openapi("DeletedStream");

const deleteRoute = createRoute({
  method: "delete",
  path: "/{stream}",
  summary:
    "Delete a stream with all its partitions: its subscriptions (groups, consumers), archiver, entries, dead letters, archived events and metric series (admin)",
  security: [{ bearer: [] }],
  request: { params: StreamParams },
  responses: {
    200: { description: "What was deleted", content: { "application/json": { schema: DeletedStream } } },
    404: { description: "No such stream" },
    503: { description: "Redis or Postgres did not answer; a retry finishes the deletion" },
  },
});

/** `/api/foundation/events`: publish (scope `publish`) and replay (any valid token). */
export const eventsRoutes = new OpenAPIHono<GatewayEnv>();
eventsRoutes.use(jsonBodiesOnly());
eventsRoutes.on("POST", ["/:stream", "/:stream/batch"], requireAuth({ anyOf: ["publish"] }));
eventsRoutes.on("GET", "/:stream", requireAuth());
const admin = requireAuth({ anyOf: ["admin"] });
eventsRoutes.get("/:stream/dlq", admin);
eventsRoutes.post("/:stream/dlq/redrive", admin);
eventsRoutes.delete("/:stream", admin);

/**
 * Who publishes (admins create streams outside the new-stream quota), with the request's correlation id and trace
 * context, and its Idempotency-Key. Read with `c.get`: Hono builds `c.var` afresh from every variable on each read.
 */
function publishOptions(c: Context<GatewayEnv>, idempotencyKey: string | undefined) {
  const auth = c.get("auth");
  return {
    publisher: auth.subject,
    correlationId: c.get("correlationId"),
    traceparent: c.get("traceparent"),
    idempotencyKey,
    quotaExempt: auth.scopes.has(ADMIN_SCOPE),
  };
}

/**
 * The body of a publish as Hono's JSON validator reads it: parsed JSON when the request says it is JSON (a 400
 * when it does not parse), otherwise `{}`, which every publish schema refuses.
 */
async function jsonBody(c: Context<GatewayEnv>): Promise<unknown> {
  if (!isJsonMediaType(c.req.header("content-type"))) return {};
  try {
    return await c.req.json();
  } catch {
    throw new HttpProblem(400, { detail: "Malformed JSON in request body" });
  }
}

/** The request's `Idempotency-Key`, checked against the documented schema (a 400 problem naming the header otherwise). */
function idempotencyKeyOf(c: Context<GatewayEnv>): string | undefined {
  const parsed = IdempotencyHeaders.safeParse({ "idempotency-key": c.req.header("idempotency-key") });
  if (!parsed.success) throw validationProblem(parsed.error, "header");
  return parsed.data["idempotency-key"];
}

/**
 * The stream, body and `Idempotency-Key` of a publish, checked against the schemas its documented route declares,
 * with the problems the OpenAPI validators answer (400 naming the parameter, body field or header; 400 for
 * malformed JSON). One step in the handler instead of zod-openapi's middlewares (param, media type,
 * body, header), which each read request headers and parse asynchronously; `jsonBodiesOnly` has refused a body
 * that is not JSON already (415).
 */
async function publishInput<T extends z.ZodType>(c: Context<GatewayEnv>, schema: T) {
  const params = StreamParams.safeParse({ stream: c.req.param("stream") });
  if (!params.success) throw validationProblem(params.error, "param");
  const body = schema.safeParse(await jsonBody(c));
  if (!body.success) throw validationProblem(body.error, "json");
  return { stream: params.data.stream, events: body.data, idempotencyKey: idempotencyKeyOf(c) };
}

// The publish routes are documented (request and answers) but served without zod-openapi's validators: see publishInput.
eventsRoutes.openAPIRegistry.registerPath(publishRoute);
eventsRoutes.post("/:stream", async (c) => {
  const { stream, events, idempotencyKey } = await publishInput(c, EventInput);
  const result = await publishToTopic(busOf(c), stream, [events], publishOptions(c, idempotencyKey));
  const partition = result.partitions?.[0];
  return c.json(
    {
      id: result.ids[0] ?? "",
      streamId: result.streamIds[0] ?? "",
      duplicate: result.duplicate,
      ...(partition === undefined ? {} : { partition }),
    },
    202,
  );
});

eventsRoutes.openAPIRegistry.registerPath(batchRoute);
eventsRoutes.post("/:stream/batch", async (c) => {
  const { stream, events, idempotencyKey } = await publishInput(c, EventBatch);
  return c.json(await publishToTopic(busOf(c), stream, events, publishOptions(c, idempotencyKey)), 202);
});

eventsRoutes.openapi(replayRoute, async (c) => {
  const { stream } = c.req.valid("param");
  const page = await replayTopic(busOf(c), stream, c.req.valid("query"));
  return c.json({ events: page.events.map((e) => ("event" in e ? { streamId: e.streamId, ...e.event } : e)), next: page.next }, 200);
});

eventsRoutes.openapi(dlqRoute, async (c) => {
  const { stream } = c.req.valid("param");
  return c.json({ deadLetters: await readDeadLetters(busOf(c), stream, c.req.valid("query").limit) }, 200);
});

eventsRoutes.openapi(redriveRoute, async (c) => {
  const { stream } = c.req.valid("param");
  return c.json({ count: await redriveDeadLetters(busOf(c), stream, c.req.valid("query").limit) }, 202);
});

eventsRoutes.openapi(deleteRoute, async (c) => c.json(await deleteStream(busOf(c), c.req.valid("param").stream), 200));
