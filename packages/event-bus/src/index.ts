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
export {
  IDEMPOTENCY_TTL_SECONDS,
  idempotencyRecordKey,
  publishEvents,
  RETENTION_CHECK_INTERVAL_MS,
  retentionMarkerKey,
  type PublishOptions,
  type PublishResult,
  type RetentionOutcome,
} from "./publish.ts";
export {
  assignPartitions,
  fnv1a,
  groupByPartition,
  MAX_PARTITIONS,
  parsePartitionConfig,
  PARTITION_SEPARATOR,
  PartitionConfig,
  partitionCount,
  partitionOfSubject,
  partitionStream,
  spreadOffset,
} from "./partitions.ts";
export { parseEntries, rawEntries, replayEvents, STREAM_ID, type RawEntry, type ReplayOptions, type StoredEvent } from "./replay.ts";
export {
  DEFAULT_RETENTION,
  lookupByStream,
  parseRetentionConfig,
  parseStreamSetting,
  RetentionConfig,
  retentionFor,
  StreamRetention,
  trimRule,
  type TrimRule,
} from "./retention.ts";
export { PUBLISH_SCRIPT, PUBLISH_SCRIPT_SHA1 } from "./scripts.ts";
export { idlePollDelayMs, planRetries, retryDelayMs, type PendingEntry, type RetryPlan, type RetryPolicy } from "./backoff.ts";
export {
  correlationIdOf,
  Delivery,
  DELIVERY_PATH,
  deliveryBody,
  DeliveryRequest,
  DeliveryResponse,
  DeliveryResult,
  outcomes,
  parseStoredEvent,
  readSignedDelivery,
  type RawDelivery,
} from "./delivery.ts";
export { SIGNATURE_HEADER, SIGNATURE_TOLERANCE_SECONDS, signDelivery, verifyDelivery, type SignatureFailure } from "./signature.ts";
export {
  ARCHIVER_GROUP,
  archiverConfig,
  consumerObjectName,
  deadLetterStream,
  GroupName,
  partitionConsumer,
  partitionConsumers,
  SubscriptionInput,
  Target,
  type ConsumerConfig,
  type ConsumerTarget,
  type SubscriptionConfig,
} from "./subscription.ts";
