import { checkPublicUrl, errorFields, HttpProblem, serviceBinding } from "@foundation/core";
import { createDb, subscriptions } from "@foundation/db";
import { eq } from "drizzle-orm";
import type { ConsumerStatus } from "./consumer/stream-consumer.ts";
import { consumerStub } from "./consumer/wake.ts";
import type { BusContext } from "./env.ts";
import { partitionCount } from "./partitions.ts";
import { ARCHIVER_GROUP, partitionConsumers, type SubscriptionConfig, type SubscriptionInput } from "./subscription.ts";

/** A subscription with its consumers' live status; for a partitioned topic, summed, with each partition listed. */
export type SubscriptionView = SubscriptionConfig &
  ConsumerStatus & { partitions?: Array<ConsumerStatus & { partition: number; stream: string | undefined }> };

/** How long an isolate trusts its list of a topic's subscriptions: a new one is picked up by publishes within this. */
const TOPIC_CACHE_MS = 5000;
const subscriptionsByTopic = new Map<string, { configs: SubscriptionConfig[]; at: number }>();

/**
 * The subscriptions of a topic, cached for 5 s per isolate (a publish wakes their consumers).
 * @example for (const sub of await topicSubscriptions(env, "orders")) ...
 */
export async function topicSubscriptions(env: BusContext["env"], topic: string): Promise<SubscriptionConfig[]> {
  const cached = subscriptionsByTopic.get(topic);
  if (cached && Date.now() - cached.at < TOPIC_CACHE_MS) return cached.configs;
  const rows = await createDb(env).select({ config: subscriptions.config }).from(subscriptions).where(eq(subscriptions.stream, topic));
  const configs = rows.map((r) => r.config as SubscriptionConfig);
  subscriptionsByTopic.set(topic, { configs, at: Date.now() });
  return configs;
}

/** Refuses targets that cannot be delivered to: reserved groups, unknown services, and URLs the SSRF rules forbid. */
function checkSubscription(bus: BusContext, input: SubscriptionInput): void {
  if (input.group === ARCHIVER_GROUP) {
    throw new HttpProblem(400, {
      slug: "reserved-group",
      detail: `The group name "${ARCHIVER_GROUP}" is reserved for the event store's archiver.`,
    });
  }
  const { target } = input;
  if ("service" in target) {
    if (serviceBinding(bus.env, target.service)) return;
    throw new HttpProblem(400, {
      slug: "unknown-subscription-target",
      detail: `No service named "${target.service}" is bound to the gateway.`,
    });
  }
  const check = checkPublicUrl(target.url, { local: bus.env.ENVIRONMENT === "local" });
  if (!check.ok) throw new HttpProblem(400, { slug: "unsafe-subscription-target", detail: `Target URL refused: ${check.reason}.` });
}

/**
 * Creates a subscription: checks its target, stores it in Postgres (409 when the stream already has one for the
 * group, 503 when Postgres cannot store it), then configures one consumer object per partition of the topic,
 * which starts delivering at once.
 * @example const config = await createSubscription(bus, input, c.var.auth.subject);
 */
export async function createSubscription(bus: BusContext, input: SubscriptionInput, createdBy: string): Promise<SubscriptionConfig> {
  checkSubscription(bus, input);
  const config: SubscriptionConfig = { id: crypto.randomUUID(), ...input };
  let inserted: { id: string }[];
  try {
    inserted = await createDb(bus.env)
      .insert(subscriptions)
      .values({ id: config.id, stream: config.stream, groupName: config.group, config, createdBy })
      .onConflictDoNothing()
      .returning({ id: subscriptions.id });
  } catch (err) {
    bus.log.error("storing subscription failed", errorFields(err));
    throw new HttpProblem(503, {
      slug: "storage-unavailable",
      detail: "The subscription was not stored; retry.",
      headers: { "Retry-After": "1" },
    });
  }
  if (inserted.length === 0) {
    throw new HttpProblem(409, {
      slug: "subscription-exists",
      detail: `Stream "${config.stream}" already has a subscription for group "${config.group}".`,
    });
  }
  const partitions = partitionConsumers(config, partitionCount(config.stream, bus.settings.partitions));
  await Promise.all(partitions.map((p) => consumerStub(bus.env, p).configure(p)));
  return config;
}

/** A topic's status from its partitions': lag and pending summed (lag unknown if any is), the latest delivery. */
export function sumStatuses(statuses: readonly ConsumerStatus[]): ConsumerStatus {
  const lags = statuses.map((s) => s.lag);
  const latest = statuses.map((s) => s.lastDeliveryAt).filter((t): t is string => t !== null);
  return {
    lag: lags.some((l) => l === null) ? null : lags.reduce<number>((a, l) => a + (l ?? 0), 0),
    pending: statuses.reduce((a, s) => a + s.pending, 0),
    dlqSize: statuses.reduce((a, s) => a + s.dlqSize, 0),
    lastDeliveryAt: latest.length === 0 ? null : latest.reduce((a, b) => (a > b ? a : b)),
  };
}

/**
 * A subscription with its lag, pending count, dead-letter size and last delivery (404 when there is none with
 * this id); summed over a partitioned topic's partitions, which are listed too.
 * @example const view = await subscriptionView(bus, id);
 */
export async function subscriptionView(bus: BusContext, id: string): Promise<SubscriptionView> {
  const [row] = await createDb(bus.env).select().from(subscriptions).where(eq(subscriptions.id, id)).limit(1);
  if (!row) throw new HttpProblem(404, { slug: "unknown-subscription", detail: `No subscription ${id}.` });
  const config = row.config as SubscriptionConfig;
  const partitions = partitionConsumers(config, partitionCount(config.stream, bus.settings.partitions));
  const statuses = await Promise.all(partitions.map((p) => consumerStub(bus.env, p).status()));
  const [only] = statuses;
  if (statuses.length === 1 && only) return { ...config, ...only };
  return {
    ...config,
    ...sumStatuses(statuses),
    partitions: statuses.map((s, partition) => ({ partition, stream: partitions[partition]?.stream, ...s })),
  };
}
