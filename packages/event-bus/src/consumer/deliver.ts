import { openSecret, serviceBinding, serviceSecret, webhookHeaders } from "@foundation/core";
import type { DbEnv } from "@foundation/db";
import {
  correlationIdOf,
  DELIVERY_PATH,
  deliveryBody,
  parseStoredEvent,
  type Delivery,
  type Outcomes,
  type RawDelivery,
} from "../delivery.ts";
import { archiveDeliveries } from "../store/archive.ts";
import type { ConsumerConfig } from "../subscription.ts";
import {
  binaryRequest,
  chunkByBytes,
  CLOUDEVENTS_BATCH,
  cloudEventsBatch,
  messageId,
  readServiceAnswer,
  readWebhookAnswer,
  type AttemptOutcome,
} from "../webhook-format.ts";

/** What delivering needs from the worker's env: the signing secret, the event store, and the services' bindings. */
export interface DeliveryEnv extends DbEnv {
  /** The bus's own secret: services' secrets derive from it, and subscribers' secrets are sealed with it. */
  EVENT_SIGNING_SECRET: string;
}

/** What delivering a batch came to. */
export interface BatchOutcome {
  /** The events answered for (delivered or failed); those of a throttled or refused request are not here. */
  results: Outcomes;
  /** Set when the target asked to slow down: the wait it asked for. */
  throttledMs?: number;
  /** Set when the target is gone (410): why. */
  gone?: string;
}

const NOT_JSON = "the stored event is not a JSON object";
/** Bytes a delivery adds around an event's stored text: the service format's wrapper, or the delivery attributes. */
const PER_EVENT_OVERHEAD = 96;

/** Parses a batch for a target that needs the events themselves; an entry that is not JSON fails alone. */
function parsedDeliveries(batch: readonly RawDelivery[]): { parsed: Delivery[]; failed: Outcomes } {
  const parsed: Delivery[] = [];
  const failed: Outcomes = new Map();
  for (const d of batch) {
    const event = parseStoredEvent(d.json);
    if (event) parsed.push({ streamId: d.streamId, deliveryCount: d.deliveryCount, event });
    else failed.set(d.streamId, { ok: false, error: NOT_JSON });
  }
  return { parsed, failed };
}

/**
 * Hands one batch to the consumer's target: a service or a subscriber URL gets signed requests of at most
 * `maxBatchBytes` each, in order; the archiver writes into the Postgres event store. A first delivery is sent as
 * the stream stored it; an event delivered again is checked to be JSON first, so a corrupt entry (written to
 * Redis by something other than the bus) fails on its own and is dead-lettered. When a request is throttled or
 * refused as gone, the rest of the batch is not sent.
 * @example const { results, throttledMs } = await deliverBatch(env, config, batch);
 */
export async function deliverBatch(env: DeliveryEnv, config: ConsumerConfig, batch: readonly RawDelivery[]): Promise<BatchOutcome> {
  if ("archive" in config.target) {
    const { parsed, failed } = parsedDeliveries(batch);
    const archived = await archiveDeliveries(env, config.stream, parsed);
    return { results: new Map([...archived, ...failed]) };
  }
  const results: Outcomes = new Map();
  const sendable: RawDelivery[] = [];
  for (const d of batch) {
    if (d.deliveryCount === 1 || parseStoredEvent(d.json)) sendable.push(d);
    else results.set(d.streamId, { ok: false, error: NOT_JSON });
  }
  for (const chunk of chunkByBytes(sendable, config.maxBatchBytes, PER_EVENT_OVERHEAD)) {
    const outcome = await attempt(env, config, chunk);
    if (outcome.kind === "throttled") return { results, throttledMs: outcome.retryAfterMs };
    if (outcome.kind === "gone") return { results, gone: outcome.reason };
    for (const [id, r] of outcome.results) results.set(id, r);
  }
  return { results };
}

/** The secrets that sign a subscription's deliveries: its own (and the previous one while a rotation lasts), or its service's. */
async function signingSecrets(env: DeliveryEnv, config: ConsumerConfig, service: string | undefined, now: number): Promise<string[]> {
  if (service !== undefined) return [await serviceSecret(env.EVENT_SIGNING_SECRET, service)];
  if (!config.secret) return [env.EVENT_SIGNING_SECRET];
  const secrets = [await openSecret(env.EVENT_SIGNING_SECRET, config.secret)];
  if (config.previousSecret && config.previousSecret.until > now)
    secrets.push(await openSecret(env.EVENT_SIGNING_SECRET, config.previousSecret.sealed));
  return secrets;
}

/** The first `traceparent` among the events, to carry the trace of a batch on its request. */
function traceparentOf(deliveries: readonly RawDelivery[]): string | undefined {
  for (const d of deliveries) {
    const at = d.json.indexOf('"traceparent":"');
    if (at >= 0) return d.json.slice(at + 15, at + 70).split('"')[0];
  }
  return undefined;
}

/** One signed request of a batch to a service or a URL; a network failure or timeout fails its events. */
async function attempt(env: DeliveryEnv, config: ConsumerConfig, deliveries: RawDelivery[]): Promise<AttemptOutcome> {
  const target = config.target as { service: string } | { url: string };
  const service = "service" in target ? target.service : undefined;
  const ids = deliveries.map((d) => d.streamId);
  const now = Date.now();
  let body: string;
  const headers = new Headers();
  if (service !== undefined) {
    // A partition's deliveries carry the topic's name: the service subscribed to the topic, not to a partition.
    body = deliveryBody(config.topic ?? config.stream, config.group, deliveries);
    headers.set("content-type", "application/json");
  } else if (config.mode === "binary" && deliveries.length === 1 && deliveries[0]) {
    const binary = binaryRequest(deliveries[0]);
    if (!binary) return { kind: "answered", results: new Map([[deliveries[0].streamId, { ok: false, error: NOT_JSON }]]) };
    body = binary.body;
    for (const [name, value] of Object.entries(binary.headers)) headers.set(name, value);
  } else {
    body = cloudEventsBatch(deliveries);
    headers.set("content-type", CLOUDEVENTS_BATCH);
  }
  const signed = await webhookHeaders(await signingSecrets(env, config, service, now), await messageId(config.id, ids), now, body);
  for (const [name, value] of Object.entries(signed)) headers.set(name, value);
  const correlationId = deliveries[0] ? correlationIdOf(deliveries[0].json) : undefined;
  if (correlationId) headers.set("X-Correlation-Id", correlationId);
  const traceparent = traceparentOf(deliveries);
  if (traceparent) headers.set("traceparent", traceparent);
  const init = { method: "POST", headers, body, redirect: "manual", signal: AbortSignal.timeout(config.timeoutMs) } as const;
  try {
    if (service !== undefined) {
      const binding = serviceBinding(env, service);
      if (!binding) return readServiceAnswer(503, null, null, ids, now);
      const res = await binding.fetch(new Request(`https://${service}.internal${DELIVERY_PATH}`, init));
      const json: unknown = await res.json().catch(() => null);
      return readServiceAnswer(res.status, res.headers.get("retry-after"), json, ids, Date.now());
    }
    const res = await fetch((target as { url: string }).url, init);
    const text = await res.text().catch(() => "");
    return readWebhookAnswer(res.status, res.headers.get("retry-after"), text, deliveries, Date.now());
  } catch (err) {
    const error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    return { kind: "answered", results: new Map(ids.map((id) => [id, { ok: false, error }])) };
  }
}
