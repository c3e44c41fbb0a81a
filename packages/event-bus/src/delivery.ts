import { z } from "zod";
import { CloudEvent, StreamName } from "./envelope.ts";

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

/** Path on a service built with the service kit that receives deliveries. */
export const DELIVERY_PATH = "/_foundation/events";

/**
 * Reads a subscriber's answer into per-event outcomes. A non-2xx answer, an unreadable body or a missing
 * entry fails the event, so one bad event never acknowledges the others by accident.
 */
export function outcomes(streamIds: readonly string[], status: number, body: unknown): Map<string, { ok: boolean; error?: string }> {
  const out = new Map<string, { ok: boolean; error?: string }>();
  const parsed = status >= 200 && status < 300 ? DeliveryResponse.safeParse(body) : undefined;
  const byId = new Map((parsed?.success ? parsed.data.results : []).map((r) => [r.streamId, r]));
  for (const id of streamIds) {
    const r = byId.get(id);
    if (r) out.set(id, r.ok ? { ok: true } : { ok: false, error: r.error ?? "handler failed" });
    else
      out.set(id, {
        ok: false,
        error: parsed
          ? parsed.success
            ? "no result for this event"
            : "unreadable subscriber answer"
          : `subscriber answered HTTP ${status}`,
      });
  }
  return out;
}
