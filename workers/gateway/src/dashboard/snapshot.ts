import { createDb, subscriptions } from "@foundation/db";
import { consumerObjectName } from "@foundation/event-bus";
import { RegistryClient, type DiscoveredService, type Instance } from "@foundation/registry/client";
import { aggregatedFamilies, shardCount } from "@foundation/core";
import { uptimeOf } from "../uptime/checks.ts";
import { publicAddress, sumBy, type DashboardCount } from "./summary.ts";
import type { InstanceUptime } from "../uptime/uptime.ts";

/** Subscriptions whose lag the dashboard shows, at most. */
const MAX_STREAMS = 50;

/** One instance on the public dashboard: no URL path, metadata or check output, which may hold secrets. */
export interface DashboardInstance extends Omit<InstanceUptime, "service" | "instanceId"> {
  id: string;
  /** The binding name, or only the host of the URL. */
  address: string;
  status: Instance["status"];
  version: string;
  lastHeartbeatAt: number;
}

/** One consumer group of one stream. */
export interface DashboardStream {
  stream: string;
  group: string;
  lag: number | null;
  pending: number;
  dlqSize: number;
}

/**
 * What `/dashboard` shows, as of `generatedAt` (epoch ms). A section is null when its source did not
 * answer; the others still show.
 */
export interface DashboardState {
  generatedAt: number;
  services: { name: string; instances: DashboardInstance[] }[] | null;
  streams: DashboardStream[] | null;
  rateLimitRejections: DashboardCount[] | null;
  serverErrors: DashboardCount[] | null;
}

function dashboardServices(services: readonly DiscoveredService[], uptimes: readonly InstanceUptime[]): DashboardState["services"] {
  const byId = new Map(uptimes.map((u) => [`${u.service}/${u.instanceId}`, u]));
  return services.map((s) => ({
    name: s.name,
    instances: s.instances.map((i) => {
      const {
        uptime24h = null,
        uptime7d = null,
        uptime30d = null,
        lastCheckAt = null,
        lastOk = null,
      } = byId.get(`${s.name}/${i.id}`) ?? {};
      return {
        id: i.id,
        address: publicAddress(i),
        status: i.status,
        version: i.version,
        lastHeartbeatAt: i.lastHeartbeatAt,
        uptime24h,
        uptime7d,
        uptime30d,
        lastCheckAt,
        lastOk,
      };
    }),
  }));
}

async function servicesSection(env: Env, now: number): Promise<DashboardState["services"]> {
  const services = await new RegistryClient(env, { now: () => now }).services();
  const uptimes = await uptimeOf(env, services, now).catch(() => []);
  return dashboardServices(services, uptimes);
}

async function streamsSection(env: Env): Promise<DashboardStream[]> {
  const rows = await createDb(env)
    .select({ stream: subscriptions.stream, group: subscriptions.groupName })
    .from(subscriptions)
    .orderBy(subscriptions.stream, subscriptions.groupName)
    .limit(MAX_STREAMS);
  const ns = env.STREAM_CONSUMER;
  return Promise.all(
    rows.map(async (r) => {
      const { lag, pending, dlqSize } = await ns.get(ns.idFromName(consumerObjectName(r.stream, r.group))).status();
      return { ...r, lag, pending, dlqSize };
    }),
  );
}

const settled = <T>(r: PromiseSettledResult<T>): T | null => (r.status === "fulfilled" ? r.value : null);

/** Reads every section of the dashboard from its source, in parallel, as of `now`. */
export async function dashboardState(env: Env, now: number = Date.now()): Promise<DashboardState> {
  const [services, streams, families] = await Promise.allSettled([
    servicesSection(env, now),
    env.DATABASE_URL ? streamsSection(env) : Promise.reject(new Error("no database")),
    aggregatedFamilies(env.METRICS_AGGREGATOR, shardCount(env)),
  ]);
  const metrics = settled(families);
  return {
    generatedAt: now,
    services: settled(services),
    streams: settled(streams),
    rateLimitRejections: metrics && sumBy(metrics, "foundation_ratelimit_decisions_total", ["quota"], (l) => l.outcome !== "allowed"),
    serverErrors:
      metrics && sumBy(metrics, "foundation_http_requests_total", ["service", "route"], (l) => l.status?.startsWith("5") ?? false),
  };
}
