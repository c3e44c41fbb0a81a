import { DeliveryRequest, readSignedDelivery, verifyWebhook, type CloudEvent, type DeliveryResult } from "@foundation/event-bus/subscriber";
import type { Context, Handler } from "hono";
import { errorFields, HttpProblem, type Logger, type MetricsRegistry, parseTraceparent, validationProblem } from "@foundation/core";

/** What a handler learns about the delivery besides the event. */
export interface DeliveryContext<E extends object> {
  streamId: string;
  /** 1 on first delivery; higher on retries. Use `event.id` to stay idempotent. */
  deliveryCount: number;
  stream: string;
  /** The consumer group delivering it; every group of a stream gets every event. */
  group: string;
  c: Context<{ Bindings: E }>;
}

/** Handles one event; throwing fails only this event, which is then retried or dead-lettered. */
export type EventHandler<E extends object> = (event: CloudEvent, ctx: DeliveryContext<E>) => Promise<void> | void;

/** The request's logger, bound to the event's own correlation ID and trace when it carries them. */
function eventLog(log: Logger | undefined, event: CloudEvent): Logger | undefined {
  const correlationId = typeof event.correlationid === "string" ? event.correlationid : undefined;
  const traceId = typeof event.traceparent === "string" ? parseTraceparent(event.traceparent)?.traceId : undefined;
  if (!log || (correlationId === undefined && traceId === undefined)) return log;
  return log.child({ ...(correlationId === undefined ? {} : { correlationId }), ...(traceId === undefined ? {} : { traceId }) });
}

/**
 * The endpoint that receives signed delivery batches: it refuses unsigned, forged or stale requests with
 * 401, runs the stream's handlers for each event and answers one result per event.
 */
export function deliveryEndpoint<E extends { EVENT_SIGNING_SECRET?: string }>(
  subscriptions: Map<string, EventHandler<E>[]>,
  metrics: MetricsRegistry,
): Handler<{ Bindings: E }> {
  const handled = metrics.counter(
    "foundation_events_handled_total",
    "Events handled by this service's subscriptions, by stream and outcome",
  );
  return async (c) => {
    const secret = c.env.EVENT_SIGNING_SECRET;
    if (!secret) throw new HttpProblem(503, { slug: "events-not-configured", detail: "EVENT_SIGNING_SECRET is not set." });
    const body = await c.req.text();
    const failure = await verifyWebhook(secret, (name) => c.req.header(name), body, Date.now());
    if (failure) throw new HttpProblem(401, { slug: "bad-signature", detail: `Delivery signature ${failure}.` });
    let raw: unknown;
    try {
      raw = JSON.parse(body);
    } catch {
      throw new HttpProblem(400, { detail: "Malformed JSON in request body" });
    }
    // The signature proves the batch came from the bus, which validated every event when it was published:
    // a type check is enough, and the full schema runs only to explain a body that fails it.
    const request = readSignedDelivery(raw);
    if (!request) {
      const parsed = DeliveryRequest.safeParse(raw);
      throw parsed.success ? new HttpProblem(400, { detail: "Malformed delivery batch" }) : validationProblem(parsed.error, "json");
    }
    const { stream, group, deliveries } = request;
    const handlers = subscriptions.get(stream) ?? [];
    const requestLog = c.get("log" as never) as Logger | undefined;
    let failed = 0;
    const results: DeliveryResult[] = await Promise.all(
      deliveries.map(async (d): Promise<DeliveryResult> => {
        if (handlers.length === 0) return { streamId: d.streamId, ok: false, error: `no handler for stream ${stream}` };
        // The batch's request carries the first event's correlation ID; each event's outcome joins its own publisher's trace.
        const log = eventLog(requestLog, d.event);
        const about = { stream, group, streamId: d.streamId, eventId: d.event.id, deliveryCount: d.deliveryCount };
        const started = performance.now();
        try {
          for (const h of handlers) await h(d.event, { streamId: d.streamId, deliveryCount: d.deliveryCount, stream, group, c });
          log?.info("event handled", { ...about, durationMs: Math.round(performance.now() - started) });
          return { streamId: d.streamId, ok: true };
        } catch (err) {
          failed++;
          const fields = errorFields(err);
          log?.error("event handler failed", { ...about, durationMs: Math.round(performance.now() - started), ...fields });
          return { streamId: d.streamId, ok: false, error: String(fields.error) };
        }
      }),
    );
    // Once per batch, not per event: the counter's label lookup showed in a subscriber's profile.
    if (handlers.length > 0) {
      if (deliveries.length > failed) handled.inc({ stream, outcome: "ok" }, deliveries.length - failed);
      if (failed > 0) handled.inc({ stream, outcome: "error" }, failed);
    }
    return c.json({ results });
  };
}
