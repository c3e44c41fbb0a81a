import { workerMetrics } from "@foundation/core";

/** Delivery latency buckets in seconds: from 5 ms to 5 minutes, since retries stretch the tail. */
const DELIVERY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/**
 * The event bus's metrics: publishing, delivery per (stream, group), consumer state and retention. They count
 * into the worker's registry (`workerMetrics`), which the worker that runs the bus serves and pushes.
 */
export const eventMetrics = {
  published: workerMetrics.counter("foundation_events_published_total", "Events appended to a stream, by stream"),
  publishCalls: workerMetrics.counter(
    "foundation_events_publish_calls_total",
    "Publish script calls to Redis (one round trip and one command each), by stream; concurrent publishes share one",
  ),
  duplicates: workerMetrics.counter(
    "foundation_events_duplicates_total",
    "Events of publishes answered from their Idempotency-Key record instead of being appended again, by stream",
  ),
  deliveries: workerMetrics.counter(
    "foundation_event_deliveries_total",
    "Event deliveries by stream, group and outcome (ok, failed, dead_lettered)",
  ),
  redeliveries: workerMetrics.counter("foundation_event_redeliveries_total", "Events delivered again after a failure or a consumer crash"),
  latency: workerMetrics.histogram(
    "foundation_event_delivery_latency_seconds",
    "Seconds from Redis accepting an event to its successful delivery, by stream and group",
    DELIVERY_BUCKETS,
  ),
  lag: workerMetrics.gauge("foundation_event_consumer_lag", "Entries of the stream the group has not read yet"),
  pending: workerMetrics.gauge("foundation_event_consumer_pending", "Entries the group has read but not acknowledged"),
  deadLetters: workerMetrics.gauge("foundation_event_dead_letters", "Entries in the stream's dead-letter stream"),
  paused: workerMetrics.gauge(
    "foundation_subscription_paused",
    "1 while a subscription's consumer is paused (its target answered 410 Gone, or an operator paused it), by stream and group",
  ),
  throttled: workerMetrics.counter(
    "foundation_event_deliveries_throttled_total",
    "Delivery attempts the target answered with 429, or 503 and Retry-After, by stream and group (not counted as deliveries)",
  ),
  heldBack: workerMetrics.gauge(
    "foundation_stream_retention_held_back",
    "Entries the stream's retention would remove but keeps because a consumer group still needs them",
  ),
  trimmed: workerMetrics.counter("foundation_stream_trimmed_entries_total", "Entries removed from a stream by its retention"),
  liveConnections: workerMetrics.gauge("foundation_live_connections", "Open live (SSE and WebSocket) connections, by Redis stream"),
  liveMessages: workerMetrics.counter("foundation_live_messages_total", "Events sent to live listeners, by Redis stream"),
  liveDropped: workerMetrics.counter(
    "foundation_live_dropped_total",
    "Live listeners the server closed, by Redis stream and reason (slow-consumer, server-restart)",
  ),
};
