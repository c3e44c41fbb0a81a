import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import {
  createSubscription,
  deleteSubscription,
  rotateSubscriptionSecret,
  setSubscriptionPaused,
  SubscriptionInput,
  subscriptionView,
} from "@foundation/event-bus";
import { jsonBodiesOnly, requireAuth } from "@foundation/service-kit";
import type { GatewayEnv } from "../env.ts";
import { busOf } from "../bus.ts";

const Subscription = z
  .object({
    id: z.string(),
    state: z.enum(["active", "paused"]).optional(),
    pausedReason: z.string().optional(),
  })
  .passthrough()
  .openapi("Subscription");
const CreatedSubscription = z
  .object({
    id: z.string(),
    secret: z
      .string()
      .optional()
      .openapi({ description: "A URL target's Standard Webhooks signing secret (`whsec_…`): shown only in this answer" }),
  })
  .passthrough()
  .openapi("CreatedSubscription");
const SubscriptionParams = z.object({ id: z.uuid() });
const notFound = { description: "No subscription with this id" };

const createSubscriptionRoute = createRoute({
  method: "post",
  path: "/",
  summary: "Subscribe a consumer group of a stream to a service or URL (admin)",
  security: [{ bearer: [] }],
  request: { body: { content: { "application/json": { schema: SubscriptionInput } }, required: true } },
  responses: {
    201: { description: "Created; delivery starts at once", content: { "application/json": { schema: CreatedSubscription } } },
    409: { description: "This stream already has a subscription for that group" },
    503: { description: "Redis or Postgres did not answer; nothing was kept, retry" },
  },
});

const getSubscriptionRoute = createRoute({
  method: "get",
  path: "/{id}",
  summary:
    "A subscription with its lag, pending count, dead-letter size and last delivery (admin); summed over a partitioned topic's partitions, which are listed too",
  security: [{ bearer: [] }],
  request: { params: SubscriptionParams },
  responses: { 200: { description: "Config and live status", content: { "application/json": { schema: Subscription } } }, 404: notFound },
});

/** A route that changes a subscription's state and answers its view. */
const stateRoute = (action: "pause" | "resume", summary: string) =>
  createRoute({
    method: "post",
    path: `/{id}/${action}`,
    summary,
    security: [{ bearer: [] }],
    request: { params: SubscriptionParams },
    responses: { 200: { description: "The subscription now", content: { "application/json": { schema: Subscription } } }, 404: notFound },
  });
const pauseRoute = stateRoute("pause", "Pause a subscription: nothing is delivered or dead-lettered until it resumes (admin)");
const resumeRoute = stateRoute("resume", "Resume a paused subscription from where it stopped (admin)");

const deleteRoute = createRoute({
  method: "delete",
  path: "/{id}",
  summary: "Delete a subscription: its consumer groups leave the stream with what they had pending (admin)",
  security: [{ bearer: [] }],
  request: { params: SubscriptionParams },
  responses: { 204: { description: "Deleted" }, 404: notFound },
});

const rotateRoute = createRoute({
  method: "post",
  path: "/{id}/secret",
  summary: "Rotate a URL subscription's signing secret: the new one is shown once; the old one signs beside it for 24 h (admin)",
  security: [{ bearer: [] }],
  request: { params: SubscriptionParams },
  responses: {
    200: {
      description: "The new secret",
      content: { "application/json": { schema: z.object({ secret: z.string(), previousValidUntil: z.string() }) } },
    },
    400: { description: "The subscription delivers to a service, which has no secret of its own" },
    404: notFound,
  },
});

/** `/api/foundation/subscriptions`: consumer groups driven by StreamConsumer objects (admin only). */
export const subscriptionsRoutes = new OpenAPIHono<GatewayEnv>();
subscriptionsRoutes.use(jsonBodiesOnly());
subscriptionsRoutes.use(requireAuth({ anyOf: ["admin"] }));

subscriptionsRoutes.openapi(createSubscriptionRoute, async (c) => {
  return c.json(await createSubscription(busOf(c), c.req.valid("json"), c.var.auth.subject), 201);
});

subscriptionsRoutes.openapi(getSubscriptionRoute, async (c) => {
  return c.json(await subscriptionView(busOf(c), c.req.valid("param").id), 200);
});

subscriptionsRoutes.openapi(pauseRoute, async (c) => c.json(await setSubscriptionPaused(busOf(c), c.req.valid("param").id, true), 200));

subscriptionsRoutes.openapi(resumeRoute, async (c) => c.json(await setSubscriptionPaused(busOf(c), c.req.valid("param").id, false), 200));

subscriptionsRoutes.openapi(deleteRoute, async (c) => {
  await deleteSubscription(busOf(c), c.req.valid("param").id);
  return c.body(null, 204);
});

subscriptionsRoutes.openapi(rotateRoute, async (c) => c.json(await rotateSubscriptionSecret(busOf(c), c.req.valid("param").id), 200));
