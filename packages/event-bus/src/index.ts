/**
 * `@foundation/event-bus`: events on Redis Streams. The envelope and partitions, atomic idempotent publish,
 * replay with the Postgres archive behind it, dead letters and redrive, subscriptions, the `StreamConsumer`
 * Durable Object that pushes each group's events to its target, and the `LiveStream` object that fans a stream out
 * to browsers over SSE and WebSockets. A subscriber needs only `./subscriber`.
 */
export {
  firstRetryDueInMs,
  idlePollDelayMs,
  planRetries,
  RETRY_JITTER_MAX,
  RETRY_JITTER_MIN,
  retryDelayMs,
  retryJitter,
  type PendingEntry,
  type RetryPlan,
  type RetryPolicy,
} from "./backoff.ts";
export { deliverBatch, type BatchOutcome, type DeliveryEnv } from "./consumer/deliver.ts";
export {
  GAUGE_REFRESH_MS,
  nextRound,
  PENDING_CHECK_MS,
  shouldReadPending,
  type NextRound,
  type RoundFacts,
  type RoundMemory,
} from "./consumer/round.ts";
export { goneExpiresAt, SUBSCRIPTION_GONE_RETENTION_DAYS } from "./consumer/gone.ts";
export { StreamConsumer } from "./consumer/stream-consumer.ts";
export { consumerName, type ConsumerStatus, type RoundReport } from "./consumer/types.ts";
export { consumerStub, wakeConsumer } from "./consumer/wake.ts";
export { readDeadLetters, redriveDeadLetters, type DeadLetter } from "./dead-letters.ts";
export type { BusContext, EventBusEnv, StreamSettings } from "./env.ts";
export { liveTicket, openLive, type LiveContext, type LiveEnv, type LiveRequest } from "./live/connect.ts";
export { CLOSE_CODES, MAX_TYPE_FILTERS, parseFilter, resumeAfter, type CloseReason, type LiveFilter } from "./live/frames.ts";
export { LIVE_CONNECTIONS_PER_SUBJECT, LIVE_HEARTBEAT_MS, LIVE_SEND_BUDGET_BYTES, LiveStream } from "./live/live-stream.ts";
export { issueTicket, TICKET_TTL_SECONDS, verifyTicket, type LiveTicket } from "./live/tickets.ts";
export { eventMetrics } from "./metrics.ts";
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
export {
  IDEMPOTENCY_TTL_SECONDS,
  IdempotencyConflict,
  idempotencyRecordKey,
  KNOWN_TOPICS_KEY,
  newTopicCounterKey,
  NewTopicQuotaExceeded,
  publishBatches,
  publishEvents,
  RETENTION_CHECK_INTERVAL_MS,
  retentionMarkerKey,
  type PublishOptions,
  type PublishResult,
  type RetentionOutcome,
  type StreamBatch,
} from "./publish.ts";
export {
  parseEntries,
  rawEntries,
  replayEvents,
  replayStream,
  replayTopic,
  type RawEntry,
  type ReplayOptions,
  type StoredEvent,
  type TopicReplayOptions,
} from "./replay.ts";
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
export { archiveDeliveries, archiveRow, readArchive, type ArchiveQuery, type EventRow } from "./store/archive.ts";
export { deleteStream, type DeletedStream } from "./streams.ts";
export * from "./subscriber.ts";
export {
  ARCHIVER_GROUP,
  archiverConfig,
  consumerObjectName,
  DEAD_LETTER_MAX_LEN,
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
export {
  createSubscription,
  deleteSubscription,
  rotateSubscriptionSecret,
  SECRET_ROTATION_GRACE_MS,
  setSubscriptionPaused,
  subscriptionView,
  sumStatuses,
  topicSubscriptions,
  type CreatedSubscription,
  type SubscriptionView,
} from "./subscriptions.ts";
export { openSecret, sealSecret } from "@foundation/core";
export {
  binaryRequest,
  chunkByBytes,
  CLOUDEVENTS_BATCH,
  cloudEventsBatch,
  messageId,
  readServiceAnswer,
  readWebhookAnswer,
  retryAfterMs,
  type AttemptOutcome,
} from "./webhook-format.ts";
export {
  completeEvents,
  NEW_STREAM_WINDOW_MS,
  publishToTopic,
  requestHash,
  type TopicPublishOptions,
  type TopicPublishResult,
} from "./topics.ts";
