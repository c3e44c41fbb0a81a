import { retryAfterMs } from "@foundation/core";
import { outcomes, parseStoredEvent, type Outcomes, type RawDelivery } from "./delivery.ts";

export { MAX_RETRY_AFTER_MS, retryAfterMs } from "@foundation/core";

/**
 * What a subscriber URL receives and what its answers mean: the CloudEvents HTTP binding (batched mode, or
 * binary mode for one event at a time) under Standard Webhooks semantics. Pure: the consumer does the I/O.
 */

/** Content type of a batch of events in one request (CloudEvents JSON batch format). */
export const CLOUDEVENTS_BATCH = "application/cloudevents-batch+json";

/** What one attempt's answer means for its events. */
export type AttemptOutcome =
  /** Answered: each event delivered or failed (a failure counts toward `maxDeliveries`). */
  | { kind: "answered"; results: Outcomes }
  /** 429, or 503 with `Retry-After`: the subscriber asks to slow down; nothing counts, the next attempt waits. */
  | { kind: "throttled"; retryAfterMs: number; status: number }
  /** 410: the subscriber is gone for good; the subscription pauses and nothing is dead-lettered. */
  | { kind: "gone"; reason: string };

/** The wait after a 429 without `Retry-After`. */
export const DEFAULT_THROTTLE_MS = 1000;

/**
 * Reads a subscriber URL's answer (Standard Webhooks semantics): any 2xx delivers every event of the request,
 * except those a JSON answer names in `failed` (by event `id` or `streamid`, with an optional `error`); 429, and
 * 503 with `Retry-After`, throttle; 410 pauses; anything else fails every event.
 * @example readWebhookAnswer(res.status, res.headers.get("retry-after"), await res.text(), batch, Date.now())
 */
export function readWebhookAnswer(
  status: number,
  retryAfter: string | null,
  body: string,
  deliveries: readonly RawDelivery[],
  nowMs: number,
): AttemptOutcome {
  const special = throttleOrGone(status, retryAfter, nowMs);
  if (special) return special;
  const results: Outcomes = new Map();
  if (status < 200 || status >= 300) {
    for (const d of deliveries) results.set(d.streamId, { ok: false, error: `subscriber answered HTTP ${status}` });
    return { kind: "answered", results };
  }
  const failed = failedOf(body);
  for (const d of deliveries) {
    const error = failed?.get(d.streamId) ?? (failed && failed.size > 0 ? failedByEventId(failed, d) : undefined);
    results.set(d.streamId, error === undefined ? { ok: true } : { ok: false, error });
  }
  return { kind: "answered", results };
}

/**
 * Reads a service's answer (the kit's format, `{results: [...]}` per event), with the same throttling and 410
 * as a subscriber URL.
 */
export function readServiceAnswer(
  status: number,
  retryAfter: string | null,
  body: unknown,
  streamIds: readonly string[],
  nowMs: number,
): AttemptOutcome {
  return throttleOrGone(status, retryAfter, nowMs) ?? { kind: "answered", results: outcomes(streamIds, status, body) };
}

function throttleOrGone(status: number, retryAfter: string | null, nowMs: number): AttemptOutcome | undefined {
  if (status === 410) return { kind: "gone", reason: "the subscriber answered 410 Gone" };
  const wait = retryAfterMs(retryAfter, nowMs);
  if (status === 429) return { kind: "throttled", retryAfterMs: wait ?? DEFAULT_THROTTLE_MS, status };
  if (status === 503 && wait !== undefined) return { kind: "throttled", retryAfterMs: wait, status };
  return undefined;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The events a 2xx answer names as failed, keyed by stream id or event id (`id:<event id>`), with their errors. */
function failedOf(body: string): Map<string, string> | undefined {
  if (!body) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (!isRecord(parsed) || !Array.isArray(parsed.failed)) return undefined;
  const failed = new Map<string, string>();
  for (const f of parsed.failed as unknown[]) {
    const entry = typeof f === "string" ? { id: f } : isRecord(f) ? f : undefined;
    if (!entry) continue;
    const error = typeof entry.error === "string" ? entry.error.slice(0, 1000) : "the subscriber reported it failed";
    if (typeof entry.streamid === "string") failed.set(entry.streamid, error);
    if (typeof entry.id === "string") failed.set(`id:${entry.id}`, error);
  }
  return failed;
}

/** The failure a 2xx answer reported by the event's id. */
function failedByEventId(failed: Map<string, string>, d: RawDelivery): string | undefined {
  const id = parseStoredEvent(d.json)?.id;
  return id === undefined ? undefined : failed.get(`id:${id}`);
}

/**
 * One event as a subscriber URL receives it in a batch: the stored CloudEvent with two extension attributes,
 * `streamid` (its position in the stream) and `deliverycount` (1 on the first attempt). Spliced into the stored
 * text, which is one JSON object the bus wrote.
 */
export function withDeliveryAttributes(d: RawDelivery): string {
  return `${d.json.slice(0, d.json.lastIndexOf("}"))},"streamid":${JSON.stringify(d.streamId)},"deliverycount":${String(d.deliveryCount)}}`;
}

/** A batch's body in the CloudEvents JSON batch format: an array of events, each with its delivery attributes. */
export function cloudEventsBatch(deliveries: readonly RawDelivery[]): string {
  return `[${deliveries.map(withDeliveryAttributes).join(",")}]`;
}

/** CloudEvents context attributes sent as `ce-` headers in binary mode (everything but the data and its content type). */
const BINARY_SKIP = new Set(["data", "data_base64", "datacontenttype"]);

/**
 * One event in the CloudEvents HTTP binary mode: every attribute as a `ce-<name>` header (the delivery attributes
 * included), the data as the body in its `datacontenttype` (JSON unless the event says otherwise and its data is
 * text). Undefined when the stored text is not a JSON object.
 */
export function binaryRequest(d: RawDelivery): { headers: Record<string, string>; body: string } | undefined {
  const event = parseStoredEvent(d.json) as Record<string, unknown> | undefined;
  if (!event) return undefined;
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(event)) {
    if (BINARY_SKIP.has(name) || value === undefined || value === null) continue;
    headers[`ce-${name}`] = encodeHeader(typeof value === "string" ? value : JSON.stringify(value));
  }
  headers["ce-streamid"] = d.streamId;
  headers["ce-deliverycount"] = String(d.deliveryCount);
  const type = typeof event.datacontenttype === "string" ? event.datacontenttype : "application/json";
  headers["content-type"] = type;
  const json = /[/+]json(;|$)/i.test(type);
  const body = event.data === undefined ? "" : !json && typeof event.data === "string" ? event.data : JSON.stringify(event.data);
  return { headers, body };
}

/** A header value as the CloudEvents HTTP binding encodes it: percent-encoding for what a header cannot carry. */
function encodeHeader(value: string): string {
  return value.replace(/[^\x20-\x7e]|[%"]/g, (c) => encodeURIComponent(c));
}

/**
 * Splits a batch into requests of at most `maxBytes` of body each, in order; an event larger than that on its own
 * goes alone. Sizes are counted as UTF-8 bytes of the stored text plus `overhead` per event (the delivery
 * attributes or the service format's wrapper).
 * @example chunkByBytes(batch, 1_048_576, 64)
 */
export function chunkByBytes<T extends { json: string }>(items: readonly T[], maxBytes: number, overhead: number): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let size = 2;
  for (const item of items) {
    const bytes = byteLength(item.json) + overhead;
    if (current.length > 0 && size + bytes > maxBytes) {
      chunks.push(current);
      current = [];
      size = 2;
    }
    current.push(item);
    size += bytes;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

const encoder = new TextEncoder();

/** UTF-8 length of `text`, without encoding it when every code unit is ASCII-sized at most (the common case). */
function byteLength(text: string): number {
  // eslint-disable-next-line no-control-regex
  return /^[\x00-\x7f]*$/.test(text) ? text.length : encoder.encode(text).byteLength;
}

/**
 * The Standard Webhooks message id of one delivery: the same for every attempt of the same events to the same
 * subscription, so a receiver deduplicates retries on it.
 * @example await messageId(subscription.id, ["1-0", "1-1"]) // "msg_…"
 */
export async function messageId(subscriptionId: string, streamIds: readonly string[]): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(`${subscriptionId}|${streamIds.join(",")}`));
  return `msg_${[...new Uint8Array(digest, 0, 16)].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}
