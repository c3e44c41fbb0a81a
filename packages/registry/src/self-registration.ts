import { bindingName } from "@foundation/core";
import { HttpRegistryClient, RegistryClient, type RegistryWriter } from "./client.ts";
import type { RegistryBindings } from "./types.ts";
import type { HealthStatus, RegistrationRequest } from "./schemas.ts";

/**
 * Bindings through which a service registers itself. With `SERVICE_REGISTRY` and `SERVICE_DIRECTORY`
 * (Durable Object bindings to the gateway's classes) it uses RPC; otherwise with `REGISTRY_URL` (the
 * gateway's origin) and `REGISTRY_TOKEN` the gateway's HTTP API under `/api/foundation`. `SERVICE_URL` is where the gateway reaches the service; without
 * it, the gateway's service binding named after the service (`billing-api` → `BILLING_API`).
 */
export interface SelfRegistrationEnv {
  SERVICE_REGISTRY?: RegistryBindings["SERVICE_REGISTRY"];
  SERVICE_DIRECTORY?: RegistryBindings["SERVICE_DIRECTORY"];
  REGISTRY_URL?: string;
  REGISTRY_TOKEN?: string;
  SERVICE_URL?: string;
}

/**
 * TTL of a self-registered instance. The heartbeat runs from the service's cron trigger, at most once a
 * minute, so three minutes leave two missed runs to spare.
 */
export const SELF_TTL_SECONDS = 180;

/** The service and its current health, as its own checks see it. */
export interface SelfReport {
  service: string;
  version: string;
  status: HealthStatus;
  output?: string;
  ttlSeconds?: number;
  metadata?: Record<string, string>;
}

/** What {@link registerSelf} did. */
export type SelfRegistrationOutcome =
  | { action: "registered" | "heartbeat"; instanceId: string }
  | { action: "skipped"; reason: string }
  | { action: "refused"; reason: string };

/** The instance ID this isolate registered, per service and address; an isolate forgets, the registry does not need it to. */
const registered = new Map<string, string>();

function writerFor(env: SelfRegistrationEnv): RegistryWriter | undefined {
  if (env.SERVICE_REGISTRY && env.SERVICE_DIRECTORY) {
    return new RegistryClient({ SERVICE_REGISTRY: env.SERVICE_REGISTRY, SERVICE_DIRECTORY: env.SERVICE_DIRECTORY });
  }
  if (env.REGISTRY_URL && env.REGISTRY_TOKEN) {
    return new HttpRegistryClient({ baseUrl: `${env.REGISTRY_URL.replace(/\/+$/, "")}/api/foundation`, token: env.REGISTRY_TOKEN });
  }
  return undefined;
}

/**
 * Registers the service or heartbeats its instance: a heartbeat when this isolate knows the instance ID,
 * else a registration, which the registry treats as a refresh of the instance at the same address. A
 * status other than `passing` is sent with a heartbeat right after registering. Throws when the registry
 * cannot be reached (the caller logs it; the next run tries again).
 * @example await registerSelf(env, { service: "billing", version: "1.4.0", status: "passing" });
 */
export async function registerSelf(env: SelfRegistrationEnv, report: SelfReport): Promise<SelfRegistrationOutcome> {
  const writer = writerFor(env);
  if (!writer) return { action: "skipped", reason: "no registry binding (SERVICE_REGISTRY) or REGISTRY_URL and REGISTRY_TOKEN" };
  const address = env.SERVICE_URL ? { url: env.SERVICE_URL } : { binding: bindingName(report.service) };
  const key = `${report.service} ${address.url ?? address.binding}`;
  const heartbeat = { status: report.status, ...(report.output === undefined ? {} : { output: report.output.slice(0, 4096) }) };
  const known = registered.get(key);
  if (known) {
    const beat = await writer.heartbeat(report.service, known, heartbeat);
    if (beat.ok) return { action: "heartbeat", instanceId: known };
    registered.delete(key);
  }
  const registration: RegistrationRequest = {
    name: report.service,
    version: report.version,
    ttlSeconds: report.ttlSeconds ?? SELF_TTL_SECONDS,
    ...(report.metadata ? { metadata: report.metadata } : {}),
    ...address,
  };
  const result = await writer.register(registration);
  if (!result.ok) {
    const reason =
      result.error === "full"
        ? "the service has too many instances"
        : result.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    return { action: "refused", reason };
  }
  registered.set(key, result.instanceId);
  if (report.status !== "passing") await writer.heartbeat(report.service, result.instanceId, heartbeat);
  return { action: "registered", instanceId: result.instanceId };
}
