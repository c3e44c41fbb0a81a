export {
  CloudEvent,
  EventInput,
  MAX_EVENT_BYTES,
  serialiseEvent,
  ShortEvent,
  StreamName,
  toEnvelope,
  type EnvelopeContext,
} from "./envelope.ts";
export { IDEMPOTENCY_TTL_SECONDS, idempotencyRecordKey, publishEvents, type PublishOptions, type PublishResult } from "./publish.ts";
export { parseEntries, replayEvents, STREAM_ID, type ReplayOptions, type StoredEvent } from "./replay.ts";
export { PUBLISH_SCRIPT, PUBLISH_SCRIPT_SHA1 } from "./scripts.ts";
export { idlePollDelayMs, planRetries, retryDelayMs, type PendingEntry, type RetryPlan, type RetryPolicy } from "./backoff.ts";
export { Delivery, DELIVERY_PATH, DeliveryRequest, DeliveryResponse, DeliveryResult, outcomes } from "./delivery.ts";
export { SIGNATURE_HEADER, SIGNATURE_TOLERANCE_SECONDS, signDelivery, verifyDelivery, type SignatureFailure } from "./signature.ts";
export { consumerObjectName, deadLetterStream, GroupName, SubscriptionInput, Target, type SubscriptionConfig } from "./subscription.ts";
