import { z } from "zod";
import { CloudEvent, StreamName } from "./envelope.ts";

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** One event handed to a subscriber, with its stream id and how often it has been delivered. */
export const Delivery = z.object({ streamId: z.string(), deliveryCount: z.number().int().positive(), event: CloudEvent });
/** One event handed to a subscriber. */
export type Delivery = z.infer<typeof Delivery>;

/** Body of a delivery POST: a batch of events of one stream for one group. */
export const DeliveryRequest = z.object({ stream: StreamName, group: z.string(), deliveries: z.array(Delivery).max(1000) });
/** Body of a delivery POST. */
export type DeliveryRequest = z.infer<typeof DeliveryRequest>;

/** A subscriber's verdict on one event; events missing from the answer count as failed. */
export const DeliveryResult = z.object({ streamId: z.string(), ok: z.boolean(), error: z.string().max(1000).optional() });
/** A subscriber's verdict on one event. */
export type DeliveryResult = z.infer<typeof DeliveryResult>;

/** Answer of a delivery POST. */
export const DeliveryResponse = z.object({ results: z.array(DeliveryResult) });

/** A delivery outcome per stream id, as a consumer acknowledges them. */
export type Outcomes = Map<string, { ok: boolean; error?: string }>;

/** A delivery whose event is still the JSON text its stream holds. */
export interface RawDelivery {
  streamId: string;
  deliveryCount: number;
  json: string;
  /** Set on an entry a redrive wrote for one consumer group: the other groups skip it. */
  group?: string;
}

/**
 * The body of a delivery POST, with each event's stored JSON spliced in as it is: the same text as
 * `JSON.stringify({ stream, group, deliveries })` with the events parsed, without parsing and re-serialising
 * every event (the two were about 10 % of the gateway's CPU at 20,000 events/s). Every `json` must be one
 * JSON object: the bus stored it with `JSON.stringify`, and a consumer checks a redelivered event with
 * {@link parseStoredEvent} first, so a corrupt entry fails alone rather than its whole batch again.
 */
export function deliveryBody(stream: string, group: string, deliveries: readonly RawDelivery[]): string {
  const parts = deliveries.map(
    (d) => `{"streamId":${JSON.stringify(d.streamId)},"deliveryCount":${String(d.deliveryCount)},"event":${d.json}}`,
  );
  return `{"stream":${JSON.stringify(stream)},"group":${JSON.stringify(group)},"deliveries":[${parts.join(",")}]}`;
}

/**
 * A stored event's text parsed, or `undefined` when it is not one JSON object (an entry written to Redis by
 * something other than the bus): what {@link deliveryBody} needs, what the event store archives, and what a
 * dead letter shows.
 */
export function parseStoredEvent(json: string): CloudEvent | undefined {
  try {
    const value: unknown = JSON.parse(json);
    return isRecord(value) ? (value as CloudEvent) : undefined;
  } catch {
    return undefined;
  }
}

const CORRELATION_KEY = '"correlationid":"';

/**
 * The `correlationid` of a stored event, for logs and the delivery's header. Events the bus completes end
 * with it (`…,"correlationid":"<id>"}`), and a string value ending right before the last brace belongs to the
 * top-level object, so it is read from the text; any other layout, or an escaped id, is parsed.
 */
export function correlationIdOf(json: string): string | undefined {
  const at = json.lastIndexOf(CORRELATION_KEY);
  if (at < 0) return undefined;
  if (json.endsWith('"}')) {
    const id = json.slice(at + CORRELATION_KEY.length, -2);
    if (!id.includes('"') && !id.includes("\\")) return id;
  }
  try {
    const { correlationid } = JSON.parse(json) as { correlationid?: unknown };
    return typeof correlationid === "string" ? correlationid : undefined;
  } catch {
    return undefined;
  }
}

/** Path on a service built with the service kit that receives deliveries. */
export const DELIVERY_PATH = "/_foundation/events";

const optionalString = (v: unknown) => v === undefined || typeof v === "string";

/** The CloudEvent attributes whose types a signed batch's events must have (see {@link readSignedDelivery}). */
function hasEventTypes(e: unknown): e is CloudEvent {
  return (
    isRecord(e) &&
    e.specversion === "1.0" &&
    typeof e.id === "string" &&
    typeof e.source === "string" &&
    typeof e.type === "string" &&
    optionalString(e.time) &&
    optionalString(e.subject) &&
    optionalString(e.datacontenttype) &&
    optionalString(e.dataschema) &&
    optionalString(e.correlationid)
  );
}

/**
 * Reads a delivery body whose signature has been verified, checking the shape and the types only. Every
 * event was validated against {@link CloudEvent} when it was published, and the signature proves the batch
 * came from the bus, so the formats (ids, times, lengths) are not checked again: with zod they were about
 * 40 % of a subscriber's CPU at 20,000 events/s. Answers `undefined` for anything else; the caller then runs
 * the full {@link DeliveryRequest} schema for a precise error.
 */
export function readSignedDelivery(raw: unknown): DeliveryRequest | undefined {
  if (!isRecord(raw) || typeof raw.stream !== "string" || typeof raw.group !== "string" || !Array.isArray(raw.deliveries)) return undefined;
  const deliveries: unknown[] = raw.deliveries;
  if (deliveries.length > 1000 || !StreamName.safeParse(raw.stream).success) return undefined;
  for (const d of deliveries) {
    if (!isRecord(d) || typeof d.streamId !== "string" || !Number.isInteger(d.deliveryCount) || !((d.deliveryCount as number) > 0))
      return undefined;
    if (!hasEventTypes(d.event)) return undefined;
  }
  return raw as DeliveryRequest;
}

/** A subscriber's answer when it has the {@link DeliveryResponse} shape, read without zod (one check per event). */
function readResults(body: unknown): DeliveryResult[] | undefined {
  if (!isRecord(body) || !Array.isArray(body.results)) return undefined;
  const results: unknown[] = body.results;
  for (const r of results) {
    if (!isRecord(r) || typeof r.streamId !== "string" || typeof r.ok !== "boolean") return undefined;
    if (r.error !== undefined && (typeof r.error !== "string" || r.error.length > 1000)) return undefined;
  }
  return results as DeliveryResult[];
}

/**
 * Reads a subscriber's answer into per-event outcomes. A non-2xx answer, an unreadable body or a missing
 * entry fails the event, so one bad event never acknowledges the others by accident.
 */
export function outcomes(streamIds: readonly string[], status: number, body: unknown): Outcomes {
  const out: Outcomes = new Map();
  const answered = status >= 200 && status < 300;
  const results = answered ? readResults(body) : undefined;
  const byId = new Map((results ?? []).map((r) => [r.streamId, r]));
  const missing = !answered ? `subscriber answered HTTP ${status}` : results ? "no result for this event" : "unreadable subscriber answer";
  for (const id of streamIds) {
    const r = byId.get(id);
    if (r) out.set(id, r.ok ? { ok: true } : { ok: false, error: r.error ?? "handler failed" });
    else out.set(id, { ok: false, error: missing });
  }
  return out;
}
