import { createDb, subscriptions } from "@foundation/db";
import { consumerObjectName } from "@foundation/event-bus";
import { RegistryClient, type DiscoveredService, type Instance } from "@foundation/registry/client";
import { aggregatedFamilies, createLogger, errorFields, shardCount } from "@foundation/core";
import { uptimeOf } from "../uptime/checks.ts";
import type { DashboardQueue } from "./board.ts";
import { queuesSection } from "./queues.ts";
import { sumBy, type DashboardCount } from "./summary.ts";
import type { InstanceUptime } from "../uptime/uptime.ts";

/** Subscriptions whose lag the dashboard shows, at most. */
const MAX_STREAMS = 50;

/**
 * The service whose rate-limit rejections the dashboard shows: the gateway's own quotas. Other services send their
 * own series with their own `service` label, which they choose; the public page must not show what they claim.
 */
const GATEWAY_SERVICE = "gateway";

const log = createLogger({ service: GATEWAY_SERVICE, component: "dashboard" });

/**
 * One instance on the public dashboard: its ID, version, status and uptime. No URL or host, binding, metadata or
 * check output, which name internal hosts or carry secrets.
 */
export interface DashboardInstance extends Omit<InstanceUptime, "service" | "instanceId"> {
  id: string;
  status: Instance["status"];
  version: string;
  lastHeartbeatAt: number;
}

/** One consumer group of one stream; the numbers are null when its consumer did not answer. */
export interface DashboardStream {
  stream: string;
  group: string;
  lag: number | null;
  pending: number | null;
  dlqSize: number | null;
}

/**
 * What `/dashboard` shows, as of `generatedAt` (epoch ms). A section is null when its source did not
 * answer; the others still show.
 */
export interface DashboardState {
  generatedAt: number;
  services: { name: string; instances: DashboardInstance[] }[] | null;
  streams: DashboardStream[] | null;
  queues: DashboardQueue[] | null;
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
  const uptimes = await uptimeOf(env, services, now).catch((err: unknown) => {
    log.warn("dashboard uptime not read", errorFields(err));
    return [];
  });
  return dashboardServices(services, uptimes);
}

async function streamsSection(env: Env): Promise<DashboardState["streams"]> {
  if (!env.DATABASE_URL) return null;
  const rows = await createDb(env)
    .select({ stream: subscriptions.stream, group: subscriptions.groupName })
    .from(subscriptions)
    .orderBy(subscriptions.stream, subscriptions.groupName)
    .limit(MAX_STREAMS);
  const ns = env.STREAM_CONSUMER;
  return Promise.all(
    rows.map(async (r) => {
      try {
        const { lag, pending, dlqSize } = await ns.get(ns.idFromName(consumerObjectName(r.stream, r.group))).status();
        return { ...r, lag, pending, dlqSize };
      } catch (err) {
        log.warn("dashboard stream status not read", { stream: r.stream, group: r.group, ...errorFields(err) });
        return { ...r, lag: null, pending: null, dlqSize: null };
      }
    }),
  );
}

function settled<T>(section: string, r: PromiseSettledResult<T>): T | null {
  if (r.status === "fulfilled") return r.value;
  log.warn("dashboard section not read", { section, ...errorFields(r.reason) });
  return null;
}

/** Reads every section of the dashboard from its source, in parallel, as of `now`. */
export async function dashboardState(env: Env, now: number = Date.now()): Promise<DashboardState> {
  const [services, streams, queues, families] = await Promise.allSettled([
    servicesSection(env, now),
    streamsSection(env),
    queuesSection(env),
    aggregatedFamilies(env.METRICS_AGGREGATOR, shardCount(env)),
  ]);
  const metrics = settled("metrics", families);
  return {
    generatedAt: now,
    services: settled("services", services),
    streams: settled("streams", streams),
    queues: settled("queues", queues),
    rateLimitRejections:
      metrics &&
      sumBy(metrics, "foundation_ratelimit_decisions_total", ["quota"], (l) => l.service === GATEWAY_SERVICE && l.outcome !== "allowed"),
    serverErrors:
      metrics && sumBy(metrics, "foundation_http_requests_total", ["service", "route"], (l) => l.status?.startsWith("5") ?? false),
  };
}
