import { createLogger, streamIdMs } from "@foundation/core";
import { correlationIdOf, type Outcomes, type RawDelivery } from "../delivery.ts";
import { eventMetrics } from "../metrics.ts";
import type { ConsumerConfig } from "../subscription.ts";

const log = createLogger({ component: "stream-consumer" });

/** The metric labels of a consumer. */
export function labelsOf(config: ConsumerConfig): { stream: string; group: string } {
  return { stream: config.stream, group: config.group };
}

/** Where a subscription delivers, for logs: the service name, the URL's origin, or the event store. */
function targetName(target: ConsumerConfig["target"]): string {
  if ("service" in target) return `service:${target.service}`;
  if ("url" in target) return `url:${new URL(target.url).origin}`;
  return "archive";
}

/** The distinct correlation IDs of a batch (at most 20), so a delivery's log line joins the publishers' traces. */
function correlationIdsOf(batch: readonly RawDelivery[]): string[] {
  const ids = new Set<string>();
  for (const d of batch) {
    const id = correlationIdOf(d.json);
    if (id) ids.add(id);
    if (ids.size === 20) break;
  }
  return [...ids];
}

/**
 * Records what a batch's delivery did: each failed event's error in the consumer's storage (the dead letter shows
 * the last one), a retried event's error cleared once it is delivered, the delivery metrics, and one log line
 * joined to the publishers' correlation IDs. Events the target did not answer for are left as they are.
 */
export function recordOutcome(
  storage: SyncKvStorage,
  config: ConsumerConfig,
  batch: readonly RawDelivery[],
  results: Outcomes,
  durationMs: number,
  now: number,
): void {
  const latencies: number[] = [];
  let delivered = 0;
  let failed = 0;
  for (const d of batch) {
    const r = results.get(d.streamId);
    if (r?.ok) {
      delivered++;
      if (d.deliveryCount > 1) storage.delete(`error:${d.streamId}`);
      latencies.push(Math.max(0, now - streamIdMs(d.streamId)) / 1000);
    } else if (r) {
      failed++;
      storage.put(`error:${d.streamId}`, r.error ?? "unknown");
    }
  }
  const labels = labelsOf(config);
  eventMetrics.latency.observeMany(labels, latencies);
  if (delivered > 0) eventMetrics.deliveries.inc({ ...labels, outcome: "ok" }, delivered);
  if (failed > 0) eventMetrics.deliveries.inc({ ...labels, outcome: "failed" }, failed);
  log.info("delivery", {
    ...labels,
    target: targetName(config.target),
    events: batch.length,
    delivered,
    failed,
    redelivered: batch.filter((d) => d.deliveryCount > 1).length,
    durationMs,
    correlationIds: correlationIdsOf(batch),
  });
}
