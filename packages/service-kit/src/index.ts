export {
  correlatedRequest,
  createService,
  jsonBodiesOnly,
  type DependencyMode,
  type Service,
  type ServiceEnv,
  type ServiceHonoEnv,
  type ServiceOptions,
  type ServiceVariables,
} from "./create-service.ts";
export { allowedOrigins, corsFromEnv, type CorsEnv } from "./cors.ts";
export {
  HttpProblem,
  issuesFrom,
  problemResponse,
  toProblem,
  validationProblem,
  type HttpProblemOptions,
  type Problem,
  type ProblemDetails,
  type ValidationIssue,
} from "./errors.ts";
export { runHealthChecks, type CheckResult, type DependencyCheck, type HealthReport } from "./health.ts";
export { createLogger, errorFields, type LogFields, type LogLevel, type LogSink, type Logger } from "./logger.ts";
export { Counter, DEFAULT_BUCKETS, Gauge, Histogram, MetricsRegistry } from "./metrics/registry.ts";
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
export {
  aggregatedFamilies,
  aggregatorSink,
  flushMetricsIfDue,
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
export { redisFrom, type RedisEnv } from "./redis.ts";
export { validate } from "./validate.ts";
export {
  ADMIN_SCOPE,
  DEFAULT_AUDIENCE,
  DEFAULT_ISSUER,
  hasScope,
  requireAuth,
  scopesOf,
  credentialsOf,
  verifyBearer,
  verifyCaller,
  type Credentials,
  type AuthContext,
  type AuthEnv,
} from "./auth/jwt.ts";
export {
  assertKey,
  BlobStore,
  contentTypeAllowed,
  type BlobBody,
  type BlobInfo,
  type BlobStoreOptions,
  type StoredBlob,
  type StreamBody,
} from "./storage.ts";
export {
  API_KEY_CACHE_MS,
  API_KEY_HEADER,
  forgetApiKey,
  generateApiKey,
  hashApiKey,
  verifyApiKey,
  type ApiKeyRecord,
} from "./auth/api-keys.ts";
