/**
 * The registry's RPC surface as plain types: what the `ServiceRegistry` and `ServiceDirectory` objects
 * answer, and the slice of their bindings a client needs. Free of workerd's globals, so the clients type-check
 * (and run) anywhere; the gateway's real `DurableObjectNamespace` bindings satisfy these shapes.
 */
import type { Heartbeat, Instance, StatusChange } from "./instance.ts";
import type { RegistrationIssue } from "./registration.ts";

/** Answer of a registration. */
export type RegisterResult =
  | { ok: true; instanceId: string; heartbeatIntervalSeconds: number; created: boolean }
  | { ok: false; error: "invalid"; issues: RegistrationIssue[] }
  | { ok: false; error: "full"; limit: number };

/** Answer of a heartbeat. */
export type HeartbeatResult =
  | { ok: true; instance: Instance; heartbeatIntervalSeconds: number }
  | { ok: false; error: "not-found" }
  | { ok: false; error: "invalid"; issues: RegistrationIssue[] };

/** Answer of a deregistration. */
export type DeregisterResult = { ok: true } | { ok: false; error: "not-found" };

/** A service's instances as of `at`, as readers see them (TTL expiry already applied). */
export interface ServiceSnapshot {
  name: string;
  instances: Instance[];
  /** The registry revision the snapshot reflects. */
  revision: number;
  at: number;
}

/** The methods of a `ServiceRegistry` stub that clients call. */
export interface RegistryStub {
  register(input: unknown, now?: number): Promise<RegisterResult>;
  heartbeat(service: string, instanceId: string, input?: Heartbeat, now?: number): Promise<HeartbeatResult>;
  deregister(service: string, instanceId: string, now?: number): Promise<DeregisterResult>;
  service(name: string, now?: number): Promise<ServiceSnapshot>;
}

/** The methods of the `ServiceDirectory` stub that clients call. */
export interface DirectoryStub {
  names(): Promise<string[]>;
}

/** What the registry calls on its status listener (the gateway's `StatusDashboard`) after status changes. */
export interface StatusListenerStub {
  statusChanged(changes: StatusChange[]): Promise<unknown>;
}

/** The slice of a Durable Object namespace binding a client uses. */
export interface NamespaceOf<Stub> {
  idFromName(name: string): unknown;
  get(id: unknown): Stub;
}

/** The registry's Durable Object bindings (declared in the gateway's wrangler.toml, bindable from any worker). */
export interface RegistryBindings {
  SERVICE_REGISTRY: NamespaceOf<RegistryStub>;
  SERVICE_DIRECTORY: NamespaceOf<DirectoryStub>;
}
