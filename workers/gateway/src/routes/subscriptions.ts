import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { createDb, subscriptions } from "@foundation/db";
import { ARCHIVER_GROUP, consumerObjectName, SubscriptionInput, type SubscriptionConfig } from "@foundation/event-bus";
import { checkInstanceUrl } from "@foundation/registry";
import { errorFields, HttpProblem, jsonBodiesOnly, requireAuth } from "@foundation/service-kit";
import { eq } from "drizzle-orm";
import type { Context } from "hono";
import { serviceBinding } from "../forward.ts";
import type { GatewayEnv } from "./index.ts";

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
  summary: "A subscription with its lag, pending count, dead-letter size and last delivery (admin)",
  security: [{ bearer: [] }],
  request: { params: z.object({ id: z.uuid() }) },
  responses: { 200: { description: "Config and live status", content: { "application/json": { schema: Subscription } } } },
});

/** Refuses targets that cannot be delivered to: unknown services, and URLs the SSRF rules forbid. */
function checkTarget(c: Context<GatewayEnv>, target: SubscriptionConfig["target"]): void {
  if ("service" in target) {
    if (!serviceBinding(c.env, target.service)) {
      throw new HttpProblem(400, {
        slug: "unknown-subscription-target",
        detail: `No service named "${target.service}" is bound to the gateway.`,
      });
    }
    return;
  }
  const check = checkInstanceUrl(target.url, { local: c.env.ENVIRONMENT === "local" });
  if (!check.ok) throw new HttpProblem(400, { slug: "unsafe-subscription-target", detail: `Target URL refused: ${check.reason}.` });
}

/** `/api/foundation/subscriptions`: consumer groups driven by StreamConsumer objects (admin only). */
export const subscriptionsRoutes = new OpenAPIHono<GatewayEnv>();
subscriptionsRoutes.use(jsonBodiesOnly());
subscriptionsRoutes.use(requireAuth({ anyOf: ["admin"] }));

subscriptionsRoutes.openapi(createSubscriptionRoute, async (c) => {
  const input = c.req.valid("json");
  if (input.group === ARCHIVER_GROUP) {
    throw new HttpProblem(400, {
      slug: "reserved-group",
      detail: `The group name "${ARCHIVER_GROUP}" is reserved for the event store's archiver.`,
    });
  }
  checkTarget(c, input.target);
  const config: SubscriptionConfig = { id: crypto.randomUUID(), ...input };
  const db = createDb(c.env);
  try {
    const inserted = await db
      .insert(subscriptions)
      .values({ id: config.id, stream: config.stream, groupName: config.group, config, createdBy: c.var.auth.subject })
      .onConflictDoNothing()
      .returning({ id: subscriptions.id });
    if (inserted.length === 0) {
      throw new HttpProblem(409, {
        slug: "subscription-exists",
        detail: `Stream "${config.stream}" already has a subscription for group "${config.group}".`,
      });
    }
  } catch (err) {
    if (err instanceof HttpProblem) throw err;
    c.var.log.error("storing subscription failed", errorFields(err));
    throw new HttpProblem(503, {
      slug: "storage-unavailable",
      detail: "The subscription was not stored; retry.",
      headers: { "Retry-After": "1" },
    });
  }
  const ns = c.env.STREAM_CONSUMER;
  await ns.get(ns.idFromName(consumerObjectName(config.stream, config.group))).configure(config);
  return c.json(config, 201);
});

subscriptionsRoutes.openapi(getSubscriptionRoute, async (c) => {
  const { id } = c.req.valid("param");
  const [row] = await createDb(c.env).select().from(subscriptions).where(eq(subscriptions.id, id)).limit(1);
  if (!row) throw new HttpProblem(404, { slug: "unknown-subscription", detail: `No subscription ${id}.` });
  const config = row.config as SubscriptionConfig;
  const ns = c.env.STREAM_CONSUMER;
  const status = await ns.get(ns.idFromName(consumerObjectName(config.stream, config.group))).status();
  return c.json({ ...config, ...status }, 200);
});
