import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { createDb, subscriptions } from "@foundation/db";
import {
  ARCHIVER_GROUP,
  consumerObjectName,
  partitionConsumers,
  SubscriptionInput,
  type ConsumerConfig,
  type SubscriptionConfig,
} from "@foundation/event-bus";
import { checkInstanceUrl } from "@foundation/registry";
import { errorFields, HttpProblem, jsonBodiesOnly, requireAuth } from "@foundation/service-kit";
import { eq } from "drizzle-orm";
import type { Context } from "hono";
import type { ConsumerStatus } from "../consumers/stream-consumer.ts";
import { serviceBinding } from "@foundation/core";
import { topicPartitions } from "../stream-settings.ts";
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
  summary:
    "A subscription with its lag, pending count, dead-letter size and last delivery (admin); summed over a partitioned topic's partitions, which are listed too",
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

/** The consumer object of one partition of a subscription. */
function consumerOf(c: Context<GatewayEnv>, config: ConsumerConfig) {
  const ns = c.env.STREAM_CONSUMER;
  return ns.get(ns.idFromName(consumerObjectName(config.stream, config.group)));
}

/** A topic's status from its partitions': lag and pending summed (lag unknown if any is), the latest delivery. */
function sumStatuses(statuses: readonly ConsumerStatus[]): ConsumerStatus {
  const lags = statuses.map((s) => s.lag);
  const latest = statuses.map((s) => s.lastDeliveryAt).filter((t): t is string => t !== null);
  return {
    lag: lags.some((l) => l === null) ? null : lags.reduce<number>((a, l) => a + (l ?? 0), 0),
    pending: statuses.reduce((a, s) => a + s.pending, 0),
    dlqSize: statuses.reduce((a, s) => a + s.dlqSize, 0),
    lastDeliveryAt: latest.length === 0 ? null : latest.reduce((a, b) => (a > b ? a : b)),
  };
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
  // One consumer object per partition of the topic (one for an unpartitioned topic).
  await Promise.all(partitionConsumers(config, topicPartitions(c.env, config.stream)).map((p) => consumerOf(c, p).configure(p)));
  return c.json(config, 201);
});

subscriptionsRoutes.openapi(getSubscriptionRoute, async (c) => {
  const { id } = c.req.valid("param");
  const [row] = await createDb(c.env).select().from(subscriptions).where(eq(subscriptions.id, id)).limit(1);
  if (!row) throw new HttpProblem(404, { slug: "unknown-subscription", detail: `No subscription ${id}.` });
  const config = row.config as SubscriptionConfig;
  const partitions = partitionConsumers(config, topicPartitions(c.env, config.stream));
  const statuses = await Promise.all(partitions.map((p) => consumerOf(c, p).status()));
  const [only] = statuses;
  if (statuses.length === 1 && only) return c.json({ ...config, ...only }, 200);
  return c.json(
    {
      ...config,
      ...sumStatuses(statuses),
      partitions: statuses.map((s, partition) => ({ partition, stream: partitions[partition]?.stream, ...s })),
    },
    200,
  );
});
