import { DiscoveryCache, type DiscoveryCacheOptions } from "./discovery-cache.ts";
import { isPassing, viewAt, type Instance } from "./instance.ts";
import type { RegistrationIssue } from "./registration.ts";
import { SERVICE_NAME } from "@foundation/core";
import { DIRECTORY_NAME, type HealthStatus, type HeartbeatRequest, type RegistrationRequest } from "./schemas.ts";
import type { DeregisterResult, HeartbeatResult, RegisterResult, RegistryBindings, RegistryStub, ServiceSnapshot } from "./types.ts";

/** What a heartbeat answers, whichever way it travelled. */
export type HeartbeatOutcome =
  | { ok: true; heartbeatIntervalSeconds: number; instance: { status: HealthStatus } }
  | { ok: false; error: "not-found" }
  | { ok: false; error: "invalid"; issues: RegistrationIssue[] };

/** Registration and heartbeats, over RPC ({@link RegistryClient}) or HTTP ({@link HttpRegistryClient}). */
export interface RegistryWriter {
  register(input: RegistrationRequest): Promise<RegisterResult>;
  heartbeat(service: string, instanceId: string, input?: HeartbeatRequest): Promise<HeartbeatOutcome>;
  deregister(service: string, instanceId: string): Promise<DeregisterResult>;
}

/** A service and its instances as of the lookup. */
export interface DiscoveredService {
  name: string;
  instances: Instance[];
}

/** Options of a lookup. */
export interface DiscoverOptions {
  /** Only `passing` instances (what `?passing=true` asks for). */
  passing?: boolean;
}

/** The per-isolate caches of discovery: service snapshots and the directory of names. Keep one per isolate (module scope). */
export class RegistryCache {
  readonly services: DiscoveryCache<ServiceSnapshot>;
  readonly directory: DiscoveryCache<string[]>;

  constructor(options: DiscoveryCacheOptions = {}) {
    this.services = new DiscoveryCache<ServiceSnapshot>(options);
    this.directory = new DiscoveryCache<string[]>({ ...options, maxEntries: 1 });
  }
}

const invalid = (message: string): { ok: false; error: "invalid"; issues: RegistrationIssue[] } => ({
  ok: false,
  error: "invalid",
  issues: [{ path: ["name"], message, code: "invalid_format" }],
});

/**
 * The registry over its Durable Object bindings: writes go to the service's `ServiceRegistry` object;
 * lookups are answered from `cache` while fresh. Each instance's TTL is checked at lookup time, so even
 * a cached answer never offers an instance past its TTL. Cheap to create per request around a shared cache.
 * @example
 * const cache = new RegistryCache({ maxStalenessMs: 1000 }); // module scope
 * const { instances } = await new RegistryClient(env, { cache }).discover("billing", { passing: true });
 */
export class RegistryClient implements RegistryWriter {
  private readonly cache: RegistryCache;
  private readonly now: () => number;

  constructor(
    private readonly bindings: RegistryBindings,
    options: { cache?: RegistryCache; now?: () => number } = {},
  ) {
    this.cache = options.cache ?? new RegistryCache();
    this.now = options.now ?? Date.now;
  }

  /** The `ServiceRegistry` object of `service`. */
  registryOf(service: string): RegistryStub {
    const ns = this.bindings.SERVICE_REGISTRY;
    return ns.get(ns.idFromName(service));
  }

  /** Registers an instance (or refreshes the one at the same address). */
  async register(input: RegistrationRequest): Promise<RegisterResult> {
    if (typeof input.name !== "string" || !SERVICE_NAME.test(input.name))
      return invalid("service names are 1 to 64 characters of a-z, 0-9 and -");
    const result = await this.registryOf(input.name).register(input);
    this.cache.services.invalidate(input.name);
    if (result.ok && result.created) this.cache.directory.invalidate(DIRECTORY_NAME);
    return result;
  }

  /** Renews an instance's TTL with the status it reports. */
  async heartbeat(service: string, instanceId: string, input: HeartbeatRequest = {}): Promise<HeartbeatResult> {
    if (!SERVICE_NAME.test(service)) return { ok: false, error: "not-found" };
    const result = await this.registryOf(service).heartbeat(service, instanceId, input);
    this.cache.services.invalidate(service);
    return result;
  }

  /** Removes an instance. */
  async deregister(service: string, instanceId: string): Promise<DeregisterResult> {
    if (!SERVICE_NAME.test(service)) return { ok: false, error: "not-found" };
    const result = await this.registryOf(service).deregister(service, instanceId);
    this.cache.services.invalidate(service);
    this.cache.directory.invalidate(DIRECTORY_NAME);
    return result;
  }

  /** The instances of `service` that a reader at this moment may use: cached within the staleness bound, TTLs checked now. */
  async discover(service: string, options: DiscoverOptions = {}): Promise<DiscoveredService> {
    if (!SERVICE_NAME.test(service)) return { name: service, instances: [] };
    const snapshot = await this.cache.services.get(service, () => this.registryOf(service).service(service));
    const now = this.now();
    const instances: Instance[] = [];
    for (const i of snapshot.instances) {
      const seen = viewAt(i, now);
      if (seen && (!options.passing || isPassing(seen, now))) instances.push(seen);
    }
    return { name: service, instances };
  }

  /** Every service that has instances, each as {@link discover} sees it. */
  async services(options: DiscoverOptions = {}): Promise<DiscoveredService[]> {
    const names = await this.cache.directory.get(DIRECTORY_NAME, () => {
      const ns = this.bindings.SERVICE_DIRECTORY;
      return ns.get(ns.idFromName(DIRECTORY_NAME)).names();
    });
    const services = await Promise.all(names.map((name) => this.discover(name, options)));
    return services.filter((s) => s.instances.length > 0 || options.passing);
  }
}

/** Options of an {@link HttpRegistryClient}. */
export interface HttpRegistryOptions {
  /** The gateway's Foundation API, e.g. `https://gateway.example.com/api/foundation`. */
  baseUrl: string;
  /** A JWT with the `service` scope whose subject is the service's name. */
  token: string;
  /** Default: the global `fetch`; a service binding's `fetch` works too. */
  fetch?: (input: Request) => Promise<Response>;
  /** How long one call may take in ms, answer included (default {@link DEFAULT_REGISTRY_TIMEOUT_MS}). */
  timeoutMs?: number;
}

/** The default deadline of a registry call: a heartbeat is one Durable Object call behind the gateway. */
export const DEFAULT_REGISTRY_TIMEOUT_MS = 5000;

interface ProblemBody {
  errors?: { pointer: string; message: string; code: string }[];
  instanceId?: string;
  heartbeatIntervalSeconds?: number;
  created?: boolean;
  status?: HealthStatus;
}

/**
 * Registration and heartbeats through the gateway's HTTP API, for workers without the registry's bindings. A call
 * that outlives its deadline rejects with a `TimeoutError`, like any failed call (the next heartbeat tries again).
 * @example await new HttpRegistryClient({ baseUrl, token }).heartbeat("billing", instanceId, { status: "passing" });
 */
export class HttpRegistryClient implements RegistryWriter {
  private readonly send: (input: Request) => Promise<Response>;

  constructor(private readonly options: HttpRegistryOptions) {
    this.send = options.fetch ?? ((req) => fetch(req));
  }

  /** `POST /services`. */
  async register(input: RegistrationRequest): Promise<RegisterResult> {
    const res = await this.call("POST", "/services", input);
    const body = await bodyOf(res);
    if (res.status === 201 || res.status === 200) {
      return {
        ok: true,
        instanceId: body.instanceId ?? "",
        heartbeatIntervalSeconds: body.heartbeatIntervalSeconds ?? 1,
        created: body.created ?? true,
      };
    }
    if (res.status === 400) return { ok: false, error: "invalid", issues: issuesOf(body) };
    if (res.status === 409) return { ok: false, error: "full", limit: 0 };
    throw new Error(`registry answered ${res.status} to a registration`);
  }

  /** `PUT /services/:name/instances/:id/heartbeat`. */
  async heartbeat(service: string, instanceId: string, input: HeartbeatRequest = {}): Promise<HeartbeatOutcome> {
    const res = await this.call(
      "PUT",
      `/services/${encodeURIComponent(service)}/instances/${encodeURIComponent(instanceId)}/heartbeat`,
      input,
    );
    const body = await bodyOf(res);
    if (res.status === 200)
      return { ok: true, heartbeatIntervalSeconds: body.heartbeatIntervalSeconds ?? 1, instance: { status: body.status ?? "passing" } };
    if (res.status === 404) return { ok: false, error: "not-found" };
    if (res.status === 400) return { ok: false, error: "invalid", issues: issuesOf(body) };
    throw new Error(`registry answered ${res.status} to a heartbeat`);
  }

  /** `DELETE /services/:name/instances/:id`. */
  async deregister(service: string, instanceId: string): Promise<DeregisterResult> {
    const res = await this.call("DELETE", `/services/${encodeURIComponent(service)}/instances/${encodeURIComponent(instanceId)}`);
    await res.body?.cancel();
    if (res.status === 204) return { ok: true };
    if (res.status === 404) return { ok: false, error: "not-found" };
    throw new Error(`registry answered ${res.status} to a deregistration`);
  }

  private call(method: string, path: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.options.token}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    const url = `${this.options.baseUrl.replace(/\/+$/, "")}${path}`;
    return this.send(
      new Request(url, {
        method,
        headers,
        body: body === undefined ? null : JSON.stringify(body),
        redirect: "manual",
        // The signal also bounds reading the answer's body, which the callers do after this resolves.
        signal: AbortSignal.timeout(this.options.timeoutMs ?? DEFAULT_REGISTRY_TIMEOUT_MS),
      }),
    );
  }
}

async function bodyOf(res: Response): Promise<ProblemBody> {
  const text = await res.text();
  try {
    return JSON.parse(text) as ProblemBody;
  } catch {
    return {};
  }
}

function issuesOf(body: ProblemBody): RegistrationIssue[] {
  return (body.errors ?? []).map((e) => ({ path: e.pointer.split("/").slice(2), message: e.message, code: e.code }));
}
