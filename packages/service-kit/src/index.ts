/**
 * `@foundation/service-kit`: `createService()` and what a service built on it uses. It re-exports
 * `@foundation/core`, so a service imports everything from here.
 */
export * from "@foundation/core";
export {
  correlatedRequest,
  createService,
  HOP_HEADER,
  isJsonMediaType,
  jsonBodiesOnly,
  type DependencyMode,
  type Service,
  type ServiceEnv,
  type ServiceHonoEnv,
  type ServiceOptions,
  type ServiceVariables,
} from "./create-service.ts";
export { corsFromEnv } from "./cors.ts";
export { jobEndpoint, JobRateLimited, type Job, type JobContext, type JobHandler } from "./jobs.ts";
export { runHealthChecks, type CheckResult, type DependencyCheck, type HealthReport } from "./health.ts";
export {
  CorsOrigins,
  DEFAULT_AUDIENCE,
  DEFAULT_ISSUER,
  serviceConfig,
  serviceConfigOf,
  ServiceVars,
  type AuthSettings,
  type ServiceConfig,
} from "./config.ts";
export type { AuthContext } from "./auth/types.ts";
export { ADMIN_SCOPE, hasScope, scopesOf } from "./auth/scopes.ts";
export { IDENTITY_HEADER, IDENTITY_ISSUER, IDENTITY_TTL_SECONDS, signIdentity, verifyIdentity } from "./auth/identity.ts";
export {
  CLOCK_TOLERANCE_SECONDS,
  servicesOf,
  requireAuth,
  credentialsOf,
  verifyBearer,
  verifyCaller,
  type Credentials,
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
  apiKeyCacheSizes,
  forgetApiKey,
  LOOKUPS_PER_CLIENT_PER_MINUTE,
  MAX_CACHED_KEYS,
  rememberApiKeyPrefix,
  generateApiKey,
  hashApiKey,
  verifyApiKey,
  type ApiKeyRecord,
} from "./auth/api-keys.ts";
