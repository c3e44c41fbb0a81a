import {
  checkPublicUrl,
  createLogger,
  errorFields,
  forgetSeries,
  HttpProblem,
  newWebhookSecret,
  redisFrom,
  sealSecret,
  serviceBinding,
  shardCount,
  type Logger,
} from "@foundation/core";
import { createDb, subscriptions } from "@foundation/db";
import { eq } from "drizzle-orm";
import { createGroup, destroyGroup } from "./consumer/redis-steps.ts";
import type { ConsumerStatus } from "./consumer/types.ts";
import { consumerStub } from "./consumer/wake.ts";
import type { BusContext, EventBusEnv } from "./env.ts";
import { partitionCount, type PartitionConfig } from "./partitions.ts";
import {
  ARCHIVER_GROUP,
  partitionConsumers,
  type ConsumerConfig,
  type SubscriptionConfig,
  type SubscriptionInput,
} from "./subscription.ts";

/** A subscription as its API shows it: the config without its sealed secrets, and its consumers' live status. */
export type SubscriptionView = Omit<SubscriptionConfig, "secret" | "previousSecret"> &
  ConsumerStatus & { partitions?: Array<ConsumerStatus & { partition: number; stream: string | undefined }> };

/** A subscription just created: its view, and (for a URL target) its signing secret, shown this once. */
export type CreatedSubscription = Omit<SubscriptionConfig, "secret" | "previousSecret"> & { secret?: string };

/** How long an isolate trusts its list of a topic's subscriptions: a new one is picked up by publishes within this. */
const TOPIC_CACHE_MS = 5000;
/** How long a rotated-out secret still signs deliveries beside the new one. */
export const SECRET_ROTATION_GRACE_MS = 24 * 3600 * 1000;
/** Logs the removal of subscriptions whose target stayed gone, which no request drives. */
const goneLog = createLogger({ component: "stream-consumer" });

const subscriptionsByTopic = new Map<string, { configs: SubscriptionConfig[]; at: number }>();

/** The subscriptions of a topic as this isolate last read them, while that list is fresh; otherwise undefined. */
export function cachedTopicSubscriptions(topic: string): SubscriptionConfig[] | undefined {
  const cached = subscriptionsByTopic.get(topic);
  return cached && Date.now() - cached.at < TOPIC_CACHE_MS ? cached.configs : undefined;
}

/**
 * The subscriptions of a topic, cached for 5 s per isolate (a publish wakes their consumers).
 * @example for (const sub of await topicSubscriptions(env, "orders")) ...
 */
export async function topicSubscriptions(env: BusContext["env"], topic: string): Promise<SubscriptionConfig[]> {
  const cached = cachedTopicSubscriptions(topic);
  if (cached) return cached;
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

const unavailable = (what: string) =>
  new HttpProblem(503, { slug: "storage-unavailable", detail: `${what}; retry.`, headers: { "Retry-After": "1" } });

/**
 * Runs a step that needs Postgres or Redis: when the store fails, or does not answer within its deadline, the
 * request answers 503 with `Retry-After` rather than 500. The problems a step throws itself (404, 409) pass.
 */
export async function stored<T>(bus: BusContext, what: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (err instanceof HttpProblem) throw err;
    bus.log.error(`${what} failed`, errorFields(err));
    throw new HttpProblem(503, {
      slug: "storage-unavailable",
      detail: `${what} failed: Postgres or Redis did not answer; retry.`,
      headers: { "Retry-After": "1" },
    });
  }
}

/** The consumer configs of a subscription's partitions. */
function partitionsOf(bus: BusContext, config: SubscriptionConfig): ConsumerConfig[] {
  return partitionConsumers(config, partitionCount(config.stream, bus.settings.partitions));
}

/** What the API shows of a config: everything but the sealed secrets. */
function visible(config: SubscriptionConfig): Omit<SubscriptionConfig, "secret" | "previousSecret"> {
  const { secret: _secret, previousSecret: _previous, ...shown } = config;
  return shown;
}

/**
 * Creates a subscription, all or nothing: checks its target, creates its consumer group on every partition where
 * `startAt` says (so a later publish can never start it elsewhere), stores it in Postgres (409 when the stream
 * already has one for the group), then configures one consumer object per partition, which starts delivering.
 * When Redis, Postgres or a consumer fails, what was done is undone and the answer is 503. A URL target gets a
 * Standard Webhooks secret, returned here once and kept sealed.
 * @example const created = await createSubscription(bus, input, c.var.auth.subject);
 */
export async function createSubscription(bus: BusContext, input: SubscriptionInput, createdBy: string): Promise<CreatedSubscription> {
  checkSubscription(bus, input);
  const secret = "url" in input.target ? newWebhookSecret() : undefined;
  const config: SubscriptionConfig = {
    id: crypto.randomUUID(),
    ...input,
    ...(secret ? { secret: await sealSecret(bus.env.EVENT_SIGNING_SECRET, secret) } : {}),
  };
  const partitions = partitionsOf(bus, config);
  const redis = redisFrom(bus.env);
  let created: ConsumerConfig[];
  try {
    const made = await Promise.all(partitions.map((p) => createGroup(redis, p, p.startAt === "beginning" ? "0" : "$")));
    created = partitions.filter((_, i) => made[i]);
  } catch (err) {
    bus.log.error("creating a subscription's consumer groups failed", errorFields(err));
    throw unavailable("The consumer group could not be created");
  }
  // A group without a subscription would hold back the stream's retention for ever.
  const dropCreatedGroups = () => Promise.allSettled(created.map((p) => destroyGroup(redis, p)));
  let inserted: { id: string }[];
  try {
    inserted = await createDb(bus.env)
      .insert(subscriptions)
      .values({ id: config.id, stream: config.stream, groupName: config.group, config, createdBy })
      .onConflictDoNothing()
      .returning({ id: subscriptions.id });
  } catch (err) {
    bus.log.error("storing subscription failed", errorFields(err));
    await dropCreatedGroups();
    throw unavailable("The subscription was not stored");
  }
  if (inserted.length === 0) {
    throw new HttpProblem(409, {
      slug: "subscription-exists",
      detail: `Stream "${config.stream}" already has a subscription for group "${config.group}".`,
    });
  }
  try {
    await Promise.all(partitions.map((p) => consumerStub(bus.env, p).configure(p)));
  } catch (err) {
    bus.log.error("configuring a subscription's consumers failed; undoing it", errorFields(err));
    await removeSubscription(bus, config).catch((undo: unknown) => bus.log.error("undoing a subscription failed", errorFields(undo)));
    throw unavailable("The subscription's consumers could not be started");
  }
  subscriptionsByTopic.delete(config.stream);
  return { ...visible(config), ...(secret ? { secret } : {}) };
}

/** A stored subscription by id (404 when there is none, 503 when Postgres does not answer). */
async function findSubscription(bus: BusContext, id: string): Promise<SubscriptionConfig> {
  const [row] = await stored(bus, "Reading the subscription", () =>
    createDb(bus.env).select().from(subscriptions).where(eq(subscriptions.id, id)).limit(1),
  );
  if (!row) throw new HttpProblem(404, { slug: "unknown-subscription", detail: `No subscription ${id}.` });
  return row.config as SubscriptionConfig;
}

/**
 * A topic's status from its partitions': lag and pending summed (lag unknown if any is), the latest delivery, paused
 * if any is, its stream missing if any partition's is.
 */
export function sumStatuses(statuses: readonly ConsumerStatus[]): ConsumerStatus {
  const lags = statuses.map((s) => s.lag);
  const latest = statuses.map((s) => s.lastDeliveryAt).filter((t): t is string => t !== null);
  const paused = statuses.find((s) => s.state === "paused");
  return {
    state: paused ? "paused" : "active",
    ...(paused?.pausedReason === undefined ? {} : { pausedReason: paused.pausedReason }),
    lag: lags.some((l) => l === null) ? null : lags.reduce<number>((a, l) => a + (l ?? 0), 0),
    pending: statuses.reduce((a, s) => a + s.pending, 0),
    dlqSize: statuses.reduce((a, s) => a + s.dlqSize, 0),
    ...(statuses.some((s) => s.streamMissing) ? { streamMissing: true } : {}),
    lastDeliveryAt: latest.length === 0 ? null : latest.reduce((a, b) => (a > b ? a : b)),
  };
}

/**
 * A subscription with its state, lag, pending count, dead-letter size and last delivery (404 when there is none
 * with this id); summed over a partitioned topic's partitions, which are listed too. A stream missing from Redis
 * shows as `streamMissing` (see `readGauges`).
 * @example const view = await subscriptionView(bus, id);
 */
export async function subscriptionView(bus: BusContext, id: string): Promise<SubscriptionView> {
  const config = await findSubscription(bus, id);
  const partitions = partitionsOf(bus, config);
  const statuses = await stored(bus, "Reading the subscription's status", () =>
    Promise.all(partitions.map((p) => consumerStub(bus.env, p).status())),
  );
  const [only] = statuses;
  if (statuses.length === 1 && only) return { ...visible(config), ...only };
  return {
    ...visible(config),
    ...sumStatuses(statuses),
    partitions: statuses.map((s, partition) => ({ partition, stream: partitions[partition]?.stream, ...s })),
  };
}

/**
 * Pauses a subscription's delivery on every partition (events wait in the stream; nothing is dead-lettered), or
 * resumes it from where it stopped.
 * @example await setSubscriptionPaused(bus, id, true);
 */
export async function setSubscriptionPaused(
  bus: BusContext,
  id: string,
  paused: boolean,
  reason = "paused by an operator",
): Promise<SubscriptionView> {
  const config = await findSubscription(bus, id);
  await Promise.all(
    partitionsOf(bus, config).map((p) => (paused ? consumerStub(bus.env, p).pause(reason) : consumerStub(bus.env, p).resume())),
  );
  return subscriptionView(bus, id);
}

/** Undoes a subscription: its consumers and groups, then its row, then its groups' metric series. */
export async function removeSubscription(bus: BusContext, config: SubscriptionConfig): Promise<void> {
  const partitions = partitionsOf(bus, config);
  await Promise.all(partitions.map((p) => consumerStub(bus.env, p).remove()));
  await createDb(bus.env).delete(subscriptions).where(eq(subscriptions.id, config.id));
  subscriptionsByTopic.delete(config.stream);
  await forgetSubscriptionSeries(bus.env, config, partitions, bus.log);
}

/**
 * Drops a removed subscription's series (its groups') from the aggregated metrics. Best effort: the subscription is
 * gone either way, and its series would only linger until the aggregator's idle sweep.
 */
async function forgetSubscriptionSeries(
  env: EventBusEnv,
  config: SubscriptionConfig,
  partitions: readonly ConsumerConfig[],
  log: Logger,
): Promise<void> {
  const ns = env.METRICS_AGGREGATOR;
  if (!ns) return;
  const match = { stream: [config.stream, ...partitions.map((p) => p.stream)], group: [config.group] };
  await forgetSeries(ns, shardCount(env), match).catch((err: unknown) =>
    log.warn("forgetting a subscription's metric series failed", { subscription: config.id, ...errorFields(err) }),
  );
}

/**
 * Deletes the subscription of a consumer whose target has been gone (410) for `SUBSCRIPTION_GONE_RETENTION_DAYS`:
 * the consumer objects of the topic's other partitions forget it (their groups leave their streams), then its row
 * goes. The expired consumer empties itself afterwards, so a failure here leaves it paused and its next alarm
 * tries again. When the row is gone already (deleted by an operator, or by another partition's consumer that
 * expired first and removed the others), nothing is left to do.
 * @example await removeGoneSubscription(env, settings.partitions, config);
 */
export async function removeGoneSubscription(env: EventBusEnv, partitions: PartitionConfig, expired: ConsumerConfig): Promise<void> {
  const db = createDb(env);
  const [row] = await db.select({ config: subscriptions.config }).from(subscriptions).where(eq(subscriptions.id, expired.id)).limit(1);
  if (!row) return;
  const config = row.config as SubscriptionConfig;
  const all = partitionConsumers(config, partitionCount(config.stream, partitions));
  await Promise.all(all.filter((p) => p.stream !== expired.stream).map((p) => consumerStub(env, p).remove()));
  await db.delete(subscriptions).where(eq(subscriptions.id, expired.id));
  subscriptionsByTopic.delete(config.stream);
  await forgetSubscriptionSeries(env, config, all, goneLog);
}

/**
 * Deletes a subscription: its consumer groups leave the stream (with what they had pending), its consumer objects
 * forget it, and its row goes; the stream's other groups are untouched. Interrupted, it is a 503 that a retry
 * finishes: the row goes last.
 * @example await deleteSubscription(bus, id);
 */
export async function deleteSubscription(bus: BusContext, id: string): Promise<void> {
  const config = await findSubscription(bus, id);
  await stored(bus, "Deleting the subscription", () => removeSubscription(bus, config));
}

/**
 * Gives a URL subscription a new Standard Webhooks secret, returned once. The previous one keeps signing beside it
 * for {@link SECRET_ROTATION_GRACE_MS}, so the subscriber can switch without refusing a delivery.
 * @example const { secret } = await rotateSubscriptionSecret(bus, id);
 */
export async function rotateSubscriptionSecret(bus: BusContext, id: string): Promise<{ secret: string; previousValidUntil: string }> {
  const config = await findSubscription(bus, id);
  if (!config.secret) {
    throw new HttpProblem(400, { slug: "no-secret", detail: "Only subscriptions with a URL target have their own secret." });
  }
  const secret = newWebhookSecret();
  const until = Date.now() + SECRET_ROTATION_GRACE_MS;
  const rotated: SubscriptionConfig = {
    ...config,
    secret: await sealSecret(bus.env.EVENT_SIGNING_SECRET, secret),
    previousSecret: { sealed: config.secret, until },
  };
  await stored(bus, "Storing the rotated secret", () =>
    createDb(bus.env).update(subscriptions).set({ config: rotated }).where(eq(subscriptions.id, id)),
  );
  await Promise.all(partitionsOf(bus, rotated).map((p) => consumerStub(bus.env, p).update(p)));
  subscriptionsByTopic.delete(config.stream);
  return { secret, previousValidUntil: new Date(until).toISOString() };
}
