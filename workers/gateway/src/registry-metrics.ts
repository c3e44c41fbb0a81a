import { HealthStatus, RegistryCache, RegistryClient } from "@foundation/registry";
import { createLogger, errorFields, type MetricFamily } from "@foundation/service-kit";

const log = createLogger({ service: "gateway", component: "registry-metrics" });

/**
 * `foundation_registry_instances{service,status}`, read from the registry when `/metrics` is scraped (TTL
 * expiry applied, so an instance that stopped heartbeating counts as critical), bypassing the discovery cache
 * so a scrape never shows an older state than the registry's. Computed rather than pushed,
 * so a service that loses its instances drops to zero instead of keeping a stale count. An unreadable
 * registry leaves the family out of that scrape.
 * @example createService({ ..., scrapeFamilies: registryFamilies });
 */
export async function registryFamilies(env: Env): Promise<MetricFamily[]> {
  let services;
  try {
    services = await new RegistryClient(env, { cache: new RegistryCache() }).services();
  } catch (err) {
    log.warn("registry unreadable at scrape", errorFields(err));
    return [];
  }
  const at = Date.now();
  const samples = services.flatMap((s) =>
    HealthStatus.options.map((status) => ({
      labels: { service: s.name, status },
      value: s.instances.filter((i) => i.status === status).length,
      at,
    })),
  );
  return [{ type: "gauge", name: "foundation_registry_instances", help: "Registered instances by service and health status", samples }];
}
