import { workerMetrics as gatewayMetrics } from "@foundation/core";

/** Delivery latency buckets in seconds: from 5 ms to 5 minutes, since retries stretch the tail. */
const DELIVERY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** The event bus's metrics: publishing, delivery per (stream, group), consumer state and retention. */
export const eventMetrics = {
  published: gatewayMetrics.counter("foundation_events_published_total", "Events appended to a stream, by stream"),
  duplicates: gatewayMetrics.counter(
    "foundation_events_duplicates_total",
    "Events of publishes answered from their Idempotency-Key record instead of being appended again, by stream",
  ),
  deliveries: gatewayMetrics.counter(
    "foundation_event_deliveries_total",
    "Event deliveries by stream, group and outcome (ok, failed, dead_lettered)",
  ),
  redeliveries: gatewayMetrics.counter("foundation_event_redeliveries_total", "Events delivered again after a failure or a consumer crash"),
  latency: gatewayMetrics.histogram(
    "foundation_event_delivery_latency_seconds",
    "Seconds from Redis accepting an event to its successful delivery, by stream and group",
    DELIVERY_BUCKETS,
  ),
  lag: gatewayMetrics.gauge("foundation_event_consumer_lag", "Entries of the stream the group has not read yet"),
  pending: gatewayMetrics.gauge("foundation_event_consumer_pending", "Entries the group has read but not acknowledged"),
  deadLetters: gatewayMetrics.gauge("foundation_event_dead_letters", "Entries in the stream's dead-letter stream"),
  heldBack: gatewayMetrics.gauge(
    "foundation_stream_retention_held_back",
    "Entries the stream's retention would remove but keeps because a consumer group still needs them",
  ),
  trimmed: gatewayMetrics.counter("foundation_stream_trimmed_entries_total", "Entries removed from a stream by its retention"),
};
