import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { createSubscription, SubscriptionInput, subscriptionView } from "@foundation/event-bus";
import { jsonBodiesOnly, requireAuth } from "@foundation/service-kit";
import type { GatewayEnv } from "../env.ts";
import { busOf } from "../bus.ts";

const Subscription = z.object({ id: z.string() }).passthrough().openapi("Subscription");

const createSubscriptionRoute = createRoute({
  method: "post",
  path: "/",
  summary: "Subscribe a consumer group of a stream to a service or URL (admin)",
  security: [{ bearer: [] }],
  request: { body: { content: { "application/json": { schema: SubscriptionInput } }, required: true } },
  responses: {
    201: { description: "Created; delivery starts at once", content: { "application/json": { schema: Subscription } } },
    409: { description: "This stream already has a subscription for that group" },
  },
});

const getSubscriptionRoute = createRoute({
  method: "get",
  path: "/{id}",
  summary:
    "A subscription with its lag, pending count, dead-letter size and last delivery (admin); summed over a partitioned topic's partitions, which are listed too",
  security: [{ bearer: [] }],
  request: { params: z.object({ id: z.uuid() }) },
  responses: { 200: { description: "Config and live status", content: { "application/json": { schema: Subscription } } } },
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
