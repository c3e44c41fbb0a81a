import { serviceBinding } from "@foundation/core";
import type { DbEnv } from "@foundation/db";
import {
  correlationIdOf,
  DELIVERY_PATH,
  deliveryBody,
  outcomes,
  parseStoredEvent,
  type Delivery,
  type Outcomes,
  type RawDelivery,
} from "../delivery.ts";
import { signDelivery, SIGNATURE_HEADER } from "../signature.ts";
import { archiveDeliveries } from "../store/archive.ts";
import type { ConsumerConfig } from "../subscription.ts";

/** What delivering needs from the worker's env: the signing secret, the event store, and the services' bindings. */
export interface DeliveryEnv extends DbEnv {
  /** Signs every delivery; subscribers verify it. */
  EVENT_SIGNING_SECRET: string;
}

const NOT_JSON = "the stored event is not a JSON object";

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
 * Hands one batch to the consumer's target and reads per-event outcomes: a subscriber gets one signed POST, the
 * archiver writes into the Postgres event store. A first delivery is posted as the stream stored it; an event
 * delivered again is checked to be JSON first, so a corrupt entry (written to Redis by something other than the
 * bus) fails on its own and is dead-lettered, and its batch-mates go through.
 * @example const results = await deliverBatch(env, config, batch);
 */
export async function deliverBatch(env: DeliveryEnv, config: ConsumerConfig, batch: readonly RawDelivery[]): Promise<Outcomes> {
  if ("archive" in config.target) {
    const { parsed, failed } = parsedDeliveries(batch);
    const archived = await archiveDeliveries(env, config.stream, parsed);
    return new Map([...archived, ...failed]);
  }
  const failed: Outcomes = new Map();
  const sendable: RawDelivery[] = [];
  for (const d of batch) {
    if (d.deliveryCount === 1 || parseStoredEvent(d.json)) sendable.push(d);
    else failed.set(d.streamId, { ok: false, error: NOT_JSON });
  }
  if (sendable.length === 0) return failed;
  const posted = await post(env, config, config.target, sendable);
  return failed.size === 0 ? posted : new Map([...posted, ...failed]);
}

/** POSTs one signed batch to a service or URL; any failure of the request fails the whole batch. */
async function post(
  env: DeliveryEnv,
  config: ConsumerConfig,
  target: { service: string } | { url: string },
  deliveries: RawDelivery[],
): Promise<Outcomes> {
  const ids = deliveries.map((d) => d.streamId);
  // A partition's deliveries carry the topic's name: the service subscribed to the topic, not to a partition.
  const body = deliveryBody(config.topic ?? config.stream, config.group, deliveries);
  const headers = new Headers({
    "content-type": "application/json",
    [SIGNATURE_HEADER]: await signDelivery(env.EVENT_SIGNING_SECRET, body, Date.now()),
  });
  const correlationId = deliveries[0] ? correlationIdOf(deliveries[0].json) : undefined;
  if (correlationId) headers.set("X-Correlation-Id", correlationId);
  const init = { method: "POST", headers, body, redirect: "manual", signal: AbortSignal.timeout(config.timeoutMs) } as const;
  try {
    let res: Response;
    if ("service" in target) {
      const binding = serviceBinding(env, target.service);
      if (!binding) return outcomes(ids, 503, null);
      res = await binding.fetch(new Request(`https://${target.service}.internal${DELIVERY_PATH}`, init));
    } else {
      res = await fetch(target.url, init);
    }
    const json: unknown = await res.json().catch(() => null);
    return outcomes(ids, res.status, json);
  } catch (err) {
    const error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    return new Map(ids.map((id) => [id, { ok: false, error }]));
  }
}
