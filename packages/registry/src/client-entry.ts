/**
 * `@foundation/registry/client`: what any worker (or a Node script) needs to register and discover: the
 * clients, the discovery cache, self-registration, the schemas and the instance model. No Durable Object
 * class and no Postgres driver, so importing it costs a service almost nothing.
 */
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
export { expiresAt, isPassing, isRoutable, viewAt, type Instance } from "./instance.ts";
export * from "./schemas.ts";
export {
  registerSelf,
  SELF_TTL_SECONDS,
  type SelfRegistrationEnv,
  type SelfRegistrationOutcome,
  type SelfReport,
} from "./self-registration.ts";
export type * from "./types.ts";
