/**
 * `@foundation/core`: the bottom layer every other package stands on. It imports nothing of ours: errors as
 * RFC 9457 problems, the JSON logger, metric primitives with their exposition and their push to the
 * aggregator, a bounded map, the Redis client factory, stream ids and typed stream replies, binding lookup, and
 * Standard Webhooks signatures with sealed secrets (event deliveries and job pushes both sign with them).
 */
export { checkPublicUrl, hostRefusal, isLoopbackHost, MAX_URL_LENGTH, type UrlCheck, type UrlPolicy } from "./address.ts";
export { bindingName, bindingNamed, SERVICE_NAME, serviceBinding, type ServiceBinding } from "./bindings.ts";
export { setBounded } from "./bounded-map.ts";
export { canonicalJson } from "./canonical-json.ts";
export { underPrefix } from "./path-prefix.ts";
export { childSpan, formatTraceparent, parseTraceparent, type TraceParent } from "./trace-context.ts";
export { ConfigError, configProblems, configReader, intVar, jsonVar, optionalVar, parsedVar, parseVars } from "./config.ts";
export { nextTurn } from "./event-loop.ts";
export { isoTime } from "./iso-time.ts";
export { createLogger, errorFields, type LogFields, type LogLevel, type LogSink, type Logger } from "./logger.ts";
export {
  MetricsAggregate,
  type AcceptResult,
  type AggregateOptions,
  type FamilyMeta,
  type MergeResult,
  type SourceMark,
  type StoredSeries,
  type SweepResult,
} from "./metrics/aggregate.ts";
export { metricsDelta } from "./metrics/delta.ts";
export { PROMETHEUS_CONTENT_TYPE, renderFamilies } from "./metrics/exposition.ts";
export {
  CounterSample,
  GaugeSample,
  HistogramSample,
  labelKey,
  MetricFamily,
  MetricsBatch,
  type Labels,
  type MetricType,
} from "./metrics/families.ts";
export {
  DEFAULT_FLUSH_POLICY,
  flushDecision,
  MetricsBatchRefused,
  MetricsPusher,
  pusherOf,
  type FlushDecision,
  type FlushPolicy,
  type FlushState,
  type MetricsSink,
} from "./metrics/pusher.ts";
export { Counter, DEFAULT_BUCKETS, Gauge, Histogram, MetricsRegistry, workerMetrics } from "./metrics/registry.ts";
export {
  aggregatedFamilies,
  aggregatorSink,
  flushMetricsIfDue,
  forgetSeries,
  flushPolicyFrom,
  httpSink,
  shardCount,
  shardName,
  sinkFromEnv,
  type AggregatorNamespace,
  type AggregatorStub,
  type IngestResult,
  type MetricsEnv,
} from "./metrics/transport.ts";
export {
  HttpProblem,
  issuesFrom,
  problemResponse,
  QUOTA_EXCEEDED_TYPE,
  toProblem,
  validationProblem,
  type HttpProblemOptions,
  type Problem,
  type ProblemDetails,
  type ValidationIssue,
} from "./problem.ts";
export { writableHeaders } from "./response-headers.ts";
export { DEFAULT_REDIS_TIMEOUT_MS, redisFrom, redisTimeoutMs, type Redis, type RedisEnv } from "./redis.ts";
export { compareStreamIds, isBefore, splitStreamId, STREAM_ID, streamIdMs } from "./streams/ids.ts";
export {
  entryField,
  fieldMap,
  groupInfos,
  pendingEntries,
  readGroupEntries,
  streamEntries,
  type GroupInfo,
  type PendingReply,
  type StreamEntry,
} from "./streams/replies.ts";
export { openSecret, sealSecret } from "./sealed-secrets.ts";
export {
  newWebhookSecret,
  serviceSecret,
  SIGNATURE_TOLERANCE_SECONDS,
  signWebhook,
  verifyWebhook,
  WEBHOOK_ID,
  WEBHOOK_SIGNATURE,
  WEBHOOK_TIMESTAMP,
  webhookHeaders,
  type SignatureFailure,
} from "./webhooks.ts";
export { MAX_RETRY_AFTER_MS, retryAfterMs } from "./retry-after.ts";
