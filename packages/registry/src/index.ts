export {
  HttpRegistryClient,
  RegistryCache,
  RegistryClient,
  type DiscoveredService,
  type DiscoverOptions,
  type HeartbeatOutcome,
  type HttpRegistryOptions,
  type RegistryWriter,
} from "./client.ts";
export { DEFAULT_MAX_STALENESS_MS, DiscoveryCache, type DiscoveryCacheOptions } from "./discovery-cache.ts";
export {
  addressKey,
  deregistersAt,
  expiresAt,
  heartbeatIntervalSeconds,
  isPassing,
  isRoutable,
  nextTransitionAt,
  settle,
  viewAt,
  type ChangeReason,
  type Heartbeat,
  type Instance,
  type Registration,
  type StatusChange,
} from "./instance.ts";
export { LAZY_FLUSH_MS, outboxWakeAt, retryDelayMs, URGENT_FLUSH_MS, type OutboxState } from "./outbox.ts";
export { writeThrough, type InstanceSnapshot } from "./persistence.ts";
export {
  defaultDeregisterAfterSeconds,
  parseRegistration,
  type AddressPolicy,
  type ParsedRegistration,
  type RegistrationIssue,
} from "./registration.ts";
export * from "./schemas.ts";
export {
  registerSelf,
  SELF_TTL_SECONDS,
  type SelfRegistrationEnv,
  type SelfRegistrationOutcome,
  type SelfReport,
} from "./self-registration.ts";
export { ServiceDirectory } from "./service-directory.ts";
export {
  MAX_INSTANCES_PER_SERVICE,
  ServiceRegistry,
  STATUS_LISTENER_NAME,
  type FlushResult,
  type RegistryEnv,
  type RegistryState,
} from "./service-registry.ts";
export type * from "./types.ts";
