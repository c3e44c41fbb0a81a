/**
 * Entry of the registry bench worker (bundled by bench/registry.bench.ts). JavaScript on purpose: bench/ is
 * type-checked with Node's types, and the registry's client needs workerd's (`DurableObjectNamespace`), so it is
 * wired in here and registry.ts types the slice it calls. It imports `@foundation/registry/client` rather than
 * the package index, which would also pull in the Durable Object classes (`cloudflare:workers`) and the Postgres
 * driver; the classes the worker talks to are the gateway bundle's, bound by name.
 */
import { DEFAULT_MAX_STALENESS_MS, RegistryCache, RegistryClient } from "@foundation/registry/client";
import { createRegistryBench } from "./registry.ts";

export default createRegistryBench({
  client: (env, maxStalenessMs) => new RegistryClient(env, { cache: new RegistryCache({ maxStalenessMs }) }),
  defaultStalenessMs: DEFAULT_MAX_STALENESS_MS,
});
