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
export { Counter, DEFAULT_BUCKETS, Gauge, Histogram, MetricsRegistry, PROMETHEUS_CONTENT_TYPE, type Labels } from "./metrics/registry.ts";
export { redisFrom, type RedisEnv } from "./redis.ts";
export { validate } from "./validate.ts";
export {
  ADMIN_SCOPE,
  DEFAULT_AUDIENCE,
  DEFAULT_ISSUER,
  hasScope,
  requireAuth,
  scopesOf,
  verifyBearer,
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
