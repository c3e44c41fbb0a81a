import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { HttpProblem } from "@foundation/core";
import { liveTicket, openLive, parseFilter, resumeAfter, StreamName, TICKET_TTL_SECONDS, verifyTicket } from "@foundation/event-bus";
import { credentialsOf, jsonBodiesOnly, requireAuth, verifyCaller } from "@foundation/service-kit";
import type { GatewayEnv } from "../env.ts";
import { busOf } from "../bus.ts";

const StreamParams = z.object({ stream: StreamName });

const ticketRoute = createRoute({
  method: "post",
  path: "/{stream}/live/tickets",
  summary: `A ticket that opens live connections to one stream for ${TICKET_TTL_SECONDS} s: for browsers, which cannot set headers on EventSource or WebSocket`,
  security: [{ bearer: [] }],
  request: { params: StreamParams },
  responses: {
    201: {
      description: "The ticket; put it in the live URL as `?ticket=`. A connection it opened stays open after it expires.",
      content: { "application/json": { schema: z.object({ ticket: z.string(), expiresAt: z.string() }).openapi("LiveTicket") } },
    },
    404: { description: "No such stream" },
  },
});

const liveRoute = createRoute({
  method: "get",
  path: "/{stream}/live",
  summary:
    "Follow a stream live: Server-Sent Events (`Accept: text/event-stream`) or a WebSocket (`Upgrade: websocket`), resuming after `Last-Event-ID`",
  description:
    "Each event is sent once, in stream order: as SSE `id:` (the stream id) and `data:` (the CloudEvent), or as a WebSocket message " +
    '`{"id", "event"}`. A reconnect with `Last-Event-ID` (or `lastEventId`) first gets every event it missed, from Redis or the event ' +
    "store. A partitioned topic is followed by `subject` or one `partition`, as a replay is. Authenticate with a bearer token or API key " +
    "in the headers, or a ticket in the URL.",
  security: [{ bearer: [] }],
  request: {
    params: StreamParams,
    query: z.object({
      ticket: z.string().min(1).max(2048).optional().openapi({ description: "A ticket from `POST …/live/tickets`" }),
      type: z
        .string()
        .max(4096)
        .optional()
        .openapi({ description: "Only these event types, comma-separated; `prefix.*` matches a prefix" }),
      subject: z.string().min(1).max(512).optional().openapi({ description: "Only events of this subject" }),
      partition: z.coerce.number().int().min(0).optional().openapi({ description: "The partition to follow, for a partitioned topic" }),
      batch: z.enum(["true", "false", "1", "0"]).optional().openapi({
        description:
          "WebSocket only: each message is a JSON array of `{id, event}`, every event one read found, instead of one message per event. Far cheaper for busy streams.",
      }),
      lastEventId: z
        .string()
        .max(64)
        .optional()
        .openapi({ description: "Resume after this stream id (what `Last-Event-ID` says, for clients that cannot set it)" }),
    }),
  },
  responses: {
    200: { description: "The event stream", content: { "text/event-stream": { schema: z.string() } } },
    101: { description: "Switching to the WebSocket" },
    400: { description: "A malformed `Last-Event-ID`, filter or partition" },
    401: { description: "No valid token, API key or ticket (an expired ticket included)" },
    404: { description: "No such stream" },
    406: { description: "Neither `Accept: text/event-stream` nor `Upgrade: websocket`" },
    429: { description: "The caller has as many live connections to this stream as it may" },
  },
});

/** `/api/foundation/events/:stream/live`: live subscriptions, and the tickets browsers open them with. */
export const liveRoutes = new OpenAPIHono<GatewayEnv>();
// Its own paths only: mounted next to `eventsRoutes` at `/events`, an unscoped `use` would run on every publish too.
liveRoutes.use("/:stream/live/*", jsonBodiesOnly());
liveRoutes.post("/:stream/live/tickets", requireAuth());

liveRoutes.openapi(ticketRoute, async (c) => c.json(await liveTicket(busOf(c), c.req.valid("param").stream, c.var.auth.subject), 201));

liveRoutes.openapi(liveRoute, async (c) => {
  const { stream } = c.req.valid("param");
  const query = c.req.valid("query");
  const mode =
    c.req.header("upgrade")?.toLowerCase() === "websocket" ? "ws" : c.req.header("accept")?.includes("text/event-stream") ? "sse" : null;
  if (!mode) {
    throw new HttpProblem(406, {
      slug: "not-acceptable",
      detail: "Ask for `Accept: text/event-stream`, or open a WebSocket (`Upgrade: websocket`).",
    });
  }
  const subject = query.ticket
    ? await verifyTicket(c.env.EVENT_SIGNING_SECRET, query.ticket, stream)
    : (await verifyCaller(credentialsOf(c.req), c.env)).subject;
  const after = resumeAfter(c.req.header("last-event-id"), query.lastEventId);
  const filter = parseFilter(query.type, query.subject);
  return openLive({ ...busOf(c), env: c.env }, stream, {
    mode,
    subject,
    filter,
    ...(query.partition === undefined ? {} : { partition: query.partition }),
    ...(query.batch === "true" || query.batch === "1" ? { batch: true } : {}),
    ...(after ? { after } : {}),
  });
});
