import { isoTime } from "@foundation/core";
import { z } from "zod";

/** Stream names: lower-case letters, digits, dots, dashes and underscores, like `ai.responses.raw`. */
export const StreamName = z.string().regex(/^[a-z0-9._-]{1,128}$/, "stream names are 1-128 characters of a-z, 0-9, '.', '_' or '-'");

/** Largest accepted serialised event, in bytes (Upstash's request limit leaves room for batches). */
export const MAX_EVENT_BYTES = 64 * 1024;

const token = z.string().min(1).max(256);

/** A CloudEvents 1.0 event in structured JSON form, with the correlation ID as an extension attribute. */
export const CloudEvent = z
  .object({
    specversion: z.literal("1.0"),
    id: token,
    source: z.string().min(1).max(1024),
    type: token,
    time: z.iso.datetime({ offset: true }).optional(),
    subject: z.string().min(1).max(512).optional(),
    datacontenttype: z.string().max(128).optional(),
    dataschema: z.url().optional(),
    correlationid: z.string().max(128).optional(),
    /** Distributed tracing extension: the W3C trace context of the publish. */
    traceparent: z
      .string()
      .regex(/^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/, "a W3C traceparent (00-<trace id>-<span id>-<flags>)")
      .optional(),
    tracestate: z.string().max(512).optional(),
    data: z.unknown().optional(),
  })
  .strict();
/** A CloudEvents 1.0 event. */
export type CloudEvent = z.infer<typeof CloudEvent>;

/** The short form a producer may send: the bus fills in id, source, specversion and time. */
export const ShortEvent = z
  .object({
    type: token,
    data: z.unknown().optional(),
    subject: z.string().min(1).max(512).optional(),
  })
  .strict();

/**
 * What a publisher may send: the short form or a full CloudEvent. The short form is tried first: it is what
 * producers on the bus send, and a union pays for every option that fails before the one that fits (a short
 * event checked against CloudEvent first cost a third of the gateway's CPU on 1,000-event batches).
 */
export const EventInput = z.union([ShortEvent, CloudEvent]);
/** What a publisher may send. */
export type EventInput = z.infer<typeof EventInput>;

/** Values the bus supplies when it completes an event. */
export interface EnvelopeContext {
  source: string;
  correlationId?: string;
  /** The publish's trace context, given to events that carry none. */
  traceparent?: string;
  now: () => number;
  newId: () => string;
}

/**
 * Completes an input into a CloudEvent: the short form gets an id, the source, `specversion`, `time` and
 * `datacontenttype`; both get the correlation ID unless they carry one.
 * @example toEnvelope({ type: "response.received", data: { platform: "chatgpt" } }, ctx)
 */
export function toEnvelope(input: EventInput, ctx: EnvelopeContext): CloudEvent {
  let base: CloudEvent;
  if ("specversion" in input) {
    base = { ...input };
  } else {
    base = {
      specversion: "1.0",
      id: ctx.newId(),
      source: ctx.source,
      type: input.type,
      time: isoTime(ctx.now()),
      datacontenttype: "application/json",
    };
    if (input.subject !== undefined) base.subject = input.subject;
    if (input.data !== undefined) base.data = input.data;
  }
  if (base.traceparent === undefined && ctx.traceparent) base.traceparent = ctx.traceparent;
  // Last, so the correlation id ends the stored text, where `correlationIdOf` reads it without parsing.
  if (base.correlationid === undefined && ctx.correlationId) base.correlationid = ctx.correlationId;
  return base;
}

/** Serialises an event for the stream, refusing one larger than {@link MAX_EVENT_BYTES}. */
export function serialiseEvent(event: CloudEvent): string {
  const json = JSON.stringify(event);
  // A UTF-16 code unit is at most 3 bytes of UTF-8, so most events need no encoding to be known small enough.
  if (json.length * 3 <= MAX_EVENT_BYTES) return json;
  const bytes = encoder.encode(json).byteLength;
  if (bytes > MAX_EVENT_BYTES) throw new RangeError(`event ${event.id} is ${bytes} bytes; the limit is ${MAX_EVENT_BYTES}`);
  return json;
}

const encoder = new TextEncoder();
