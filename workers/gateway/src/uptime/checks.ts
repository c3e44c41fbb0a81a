import { RegistryClient, type Instance } from "@foundation/registry/client";
import { errorFields, type Logger } from "@foundation/service-kit";
import { bindingNamed } from "@foundation/core";
import { configFrom } from "../config.ts";
import { tellDashboard } from "../dashboard/status-dashboard.ts";
import {
  instanceUptime,
  probeHeartbeat,
  probeTarget,
  probeVerdict,
  retentionCutoff,
  type InstanceUptime,
  type ProbeResult,
  type TargetCounts,
} from "./uptime.ts";
import { probeCounts, pruneProbes, recordProbes } from "./store.ts";

/** How long a probe waits for `/health` before it counts as failed. */
export const PROBE_TIMEOUT_MS = 5000;
/** Probes in flight at once. */
const PROBE_CONCURRENCY = 16;

/** Options of {@link runUptimeChecks}. */
export interface UptimeCheckOptions {
  /** The clock (epoch ms); tests inject one to write history in the past. */
  now?: () => number;
  timeoutMs?: number;
  /** Probe only these services (default: every service in the registry). */
  services?: readonly string[];
  /** Days of probe history to keep (default: `HEALTH_CHECK_RETENTION_DAYS`, else 30). */
  retentionDays?: number;
  log?: Logger;
}

/** Runs `fn` over `items` with at most `limit` calls in flight, keeping the order of the results. */
async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

/** The status code of `GET /health` on the instance, through its service binding or its URL; redirects are not followed. */
async function fetchHealth(env: Env, instance: Instance, signal: AbortSignal): Promise<number> {
  const init: RequestInit = { redirect: "manual", signal, headers: { "user-agent": "foundation-gateway-probe" } };
  const binding = instance.binding === undefined ? undefined : bindingNamed(env, instance.binding);
  if (instance.binding !== undefined && !binding) throw new Error(`the gateway has no service binding ${instance.binding}`);
  const url = binding ? "https://binding.internal/health" : new URL("health", `${(instance.url ?? "").replace(/\/*$/, "/")}`).href;
  const res = await (binding ? binding.fetch(url, init) : fetch(url, init));
  await res.body?.cancel();
  return res.status;
}

/** Probes one instance's `/health` with a timeout. */
export async function probeInstance(env: Env, instance: Instance, now: () => number, timeoutMs: number): Promise<ProbeResult> {
  const checkedAt = now();
  const started = performance.now();
  const abort = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      abort.abort();
      reject(new Error(`no answer within ${timeoutMs} ms`));
    }, timeoutMs);
  });
  const base = { service: instance.service, instanceId: instance.id, checkedAt };
  try {
    const verdict = probeVerdict(await Promise.race([fetchHealth(env, instance, abort.signal), timeout]));
    return { ...base, ...verdict, latencyMs: performance.now() - started };
  } catch (err) {
    return { ...base, ok: false, detail: err instanceof Error ? err.message : String(err), latencyMs: performance.now() - started };
  } finally {
    clearTimeout(timer);
  }
}

/** Heartbeats the instances that asked for the gateway's probe (see `probeHeartbeat`). */
async function feedRegistry(registry: RegistryClient, instances: readonly Instance[], results: readonly ProbeResult[]): Promise<void> {
  await Promise.all(
    instances.map(async (instance, i) => {
      const result = results[i];
      const hb = result && probeHeartbeat(instance, result);
      if (hb) await registry.heartbeat(instance.service, instance.id, hb);
    }),
  );
}

/**
 * The cron's uptime check: probes every registered instance's `/health`, appends the results to
 * `health_checks`, deletes probes older than the retention (at most `HEALTH_CHECK_PRUNE_BATCH` rows a run),
 * heartbeats the instances registered with metadata `probe: "gateway"`, and tells the status dashboard to
 * refresh. Returns the results.
 * @example ctx.waitUntil(runUptimeChecks(env));
 */
export async function runUptimeChecks(env: Env, options: UptimeCheckOptions = {}): Promise<ProbeResult[]> {
  const now = options.now ?? Date.now;
  const registry = new RegistryClient(env, { now });
  const services = options.services ? await Promise.all(options.services.map((s) => registry.discover(s))) : await registry.services();
  const instances = services.flatMap((s) => s.instances);
  const results = await mapLimit(instances, PROBE_CONCURRENCY, (i) => probeInstance(env, i, now, options.timeoutMs ?? PROBE_TIMEOUT_MS));
  const retentionDays = options.retentionDays ?? configFrom(env).healthCheckRetentionDays;
  const writes = await Promise.allSettled([
    env.DATABASE_URL ? recordProbes(env, results) : undefined,
    env.DATABASE_URL ? pruneProbes(env, retentionCutoff(now(), retentionDays)) : undefined,
    feedRegistry(registry, instances, results),
  ]);
  for (const w of writes)
    if (w.status === "rejected") options.log?.error("uptime check could not record its results", errorFields(w.reason));
  await tellDashboard(env, (d) => d.checked(now()), options.log);
  return results;
}

/** The uptime of every instance of `services`, as of `now`. */
export async function uptimeOf(
  env: Env,
  services: readonly { name: string; instances: readonly Instance[] }[],
  now: number,
): Promise<InstanceUptime[]> {
  const refs = services.flatMap((s) => s.instances.map((i) => ({ service: s.name, instanceId: i.id })));
  const counts = env.DATABASE_URL
    ? await probeCounts(
        env,
        refs.map((r) => probeTarget(r.service, r.instanceId)),
        now,
      )
    : new Map<string, TargetCounts>();
  return refs.map((r) => instanceUptime(r.service, r.instanceId, counts.get(probeTarget(r.service, r.instanceId))));
}
