/**
 * The life of a service instance as pure functions of the current time (Consul's TTL check model): a
 * heartbeat keeps it `passing` (or the status it reports) until `lastHeartbeatAt + ttl`; after that it is
 * `critical` and takes no traffic; once it has been critical for the deregister delay it is deregistered.
 * A heartbeat that arrives before then brings it back.
 */
import type { HealthStatus } from "./schemas.ts";

/** One registered instance of a service, as the registry stores it (times in epoch milliseconds). */
export interface Instance {
  id: string;
  service: string;
  /** Where the gateway reaches it: a URL… */
  url?: string;
  /** …or one of the gateway's service bindings. */
  binding?: string;
  version: string;
  metadata: Record<string, string>;
  ttlMs: number;
  deregisterAfterMs: number;
  /** The last status reported by a heartbeat, or `critical` once the TTL expired. */
  status: HealthStatus;
  /** Output of the last check (the heartbeat's `output`, or why the registry marked it critical). */
  output: string | null;
  registeredAt: number;
  lastHeartbeatAt: number;
  /** When it turned critical; the deregister delay counts from here. */
  criticalSince: number | null;
  /** The registry revision of its last change; only grows. */
  revision: number;
}

/** Why an instance's status changed. */
export type ChangeReason = "registered" | "heartbeat" | "ttl-expired" | "deregistered" | "deregister-delay-elapsed";

/** One entry of an instance's status history. */
export interface StatusChange {
  /** Deterministic (`<instance>:<revision>:<n>`), so a retried write-through inserts it once. */
  changeId: string;
  instanceId: string;
  service: string;
  /** `null` on registration. */
  from: HealthStatus | null;
  to: HealthStatus | "deregistered";
  reason: ChangeReason;
  output: string | null;
  at: number;
}

/** A status change before the registry has numbered it. */
export type PendingChange = Omit<StatusChange, "changeId">;

/** What a registration sets on an instance, already validated and normalised. */
export interface Registration {
  service: string;
  url?: string;
  binding?: string;
  version: string;
  metadata: Record<string, string>;
  ttlMs: number;
  deregisterAfterMs: number;
}

/** A heartbeat: the instance's own view of its health. */
export interface Heartbeat {
  status?: HealthStatus;
  output?: string;
}

/** The result of a transition: the instance afterwards and the status changes on the way. */
export interface Transition {
  instance: Instance;
  changes: PendingChange[];
}

/** Time after which the instance is critical unless a heartbeat arrives. */
export function expiresAt(i: Instance): number {
  return i.lastHeartbeatAt + i.ttlMs;
}

/** Time at which a critical instance is deregistered, or null while it is not critical. */
export function deregistersAt(i: Instance): number | null {
  return i.criticalSince === null ? null : i.criticalSince + i.deregisterAfterMs;
}

/** The key that makes two registrations the same instance: its URL or its binding. */
export function addressKey(a: { url?: string; binding?: string }): string {
  return a.url !== undefined ? `url:${a.url}` : `binding:${a.binding ?? ""}`;
}

/** The check output the registry records when an instance misses its TTL. */
export function ttlExpiredOutput(i: Instance): string {
  return `TTL expired: no heartbeat within ${i.ttlMs / 1000} s`;
}

/**
 * Applies the transitions that time alone causes, as of `now`: a missed TTL makes the instance critical
 * (from the moment the TTL ran out, however late this runs), and a critical instance past its deregister
 * delay is deregistered. Idempotent: settling a settled instance at the same time changes nothing.
 * @example settle(instance, Date.now()).deregisteredAt // null while the instance is still registered
 */
export function settle(i: Instance, now: number): Transition & { deregisteredAt: number | null } {
  const changes: PendingChange[] = [];
  let instance = i;
  const expiry = expiresAt(i);
  if (instance.status !== "critical" && now >= expiry) {
    const output = ttlExpiredOutput(i);
    changes.push({ instanceId: i.id, service: i.service, from: i.status, to: "critical", reason: "ttl-expired", output, at: expiry });
    instance = { ...instance, status: "critical", output, criticalSince: expiry };
  }
  const deregisterAt = deregistersAt(instance);
  if (deregisterAt !== null && now >= deregisterAt) {
    changes.push({
      instanceId: i.id,
      service: i.service,
      from: "critical",
      to: "deregistered",
      reason: "deregister-delay-elapsed",
      output: instance.output,
      at: deregisterAt,
    });
    return { instance, changes, deregisteredAt: deregisterAt };
  }
  return { instance, changes, deregisteredAt: null };
}

/**
 * The instance as a reader at `now` sees it: critical once its TTL ran out, even before the registry's
 * alarm has recorded it; null once it is past its deregister delay.
 */
export function viewAt(i: Instance, now: number): Instance | null {
  if (now < expiresAt(i)) return i;
  const { instance, deregisteredAt } = settle(i, now);
  return deregisteredAt === null ? instance : null;
}

/** Whether the gateway may send traffic to the instance at `now`: `passing` or `warning`, and within its TTL. */
export function isRoutable(i: Instance, now: number): boolean {
  return i.status !== "critical" && now < expiresAt(i);
}

/** Whether the instance is `passing` at `now` (what `?passing=true` asks for). */
export function isPassing(i: Instance, now: number): boolean {
  return i.status === "passing" && now < expiresAt(i);
}

/**
 * A registration at `now`: a new instance, or, when `existing` has the same address, that instance refreshed
 * (new version, metadata and TTL, and a heartbeat) under its old ID.
 */
export function register(existing: Instance | undefined, reg: Registration, id: string, now: number, revision: number): Transition {
  if (existing) {
    const { instance: before, changes } = settle(existing, now);
    const instance: Instance = {
      ...before,
      ...reg,
      status: "passing",
      output: null,
      lastHeartbeatAt: now,
      criticalSince: null,
      revision,
    };
    if (before.status !== "passing") {
      changes.push({
        instanceId: before.id,
        service: before.service,
        from: before.status,
        to: "passing",
        reason: "registered",
        output: null,
        at: now,
      });
    }
    return { instance, changes };
  }
  const instance: Instance = {
    id,
    ...reg,
    status: "passing",
    output: null,
    registeredAt: now,
    lastHeartbeatAt: now,
    criticalSince: null,
    revision,
  };
  return {
    instance,
    changes: [{ instanceId: id, service: reg.service, from: null, to: "passing", reason: "registered", output: null, at: now }],
  };
}

/**
 * A heartbeat at `now`: renews the TTL and sets the reported status (default `passing`) and output. A
 * critical instance keeps its `criticalSince` while it stays critical, so reporting `critical` does not
 * postpone its deregistration.
 */
export function heartbeat(existing: Instance, hb: Heartbeat, now: number, revision: number): Transition {
  const { instance: before, changes } = settle(existing, now);
  const status = hb.status ?? "passing";
  const output = hb.output ?? null;
  const criticalSince = status !== "critical" ? null : before.status === "critical" ? before.criticalSince : now;
  const instance: Instance = { ...before, status, output, lastHeartbeatAt: now, criticalSince, revision };
  if (before.status !== status) {
    changes.push({ instanceId: before.id, service: before.service, from: before.status, to: status, reason: "heartbeat", output, at: now });
  }
  return { instance, changes };
}

/** A deregistration by the instance (or an operator) at `now`. */
export function deregister(existing: Instance, now: number): PendingChange[] {
  const { instance, changes } = settle(existing, now);
  changes.push({
    instanceId: instance.id,
    service: instance.service,
    from: instance.status,
    to: "deregistered",
    reason: "deregistered",
    output: instance.output,
    at: now,
  });
  return changes;
}

/** The next time at which time alone changes one of `instances` (a TTL or a deregister delay running out). */
export function nextTransitionAt(instances: Iterable<Instance>): number | null {
  let next: number | null = null;
  for (const i of instances) {
    const at = i.status === "critical" ? deregistersAt(i) : expiresAt(i);
    if (at !== null && (next === null || at < next)) next = at;
  }
  return next;
}

/** Seconds between heartbeats that keep an instance with this TTL passing with two heartbeats to spare. */
export function heartbeatIntervalSeconds(ttlSeconds: number): number {
  return Math.max(1, Math.floor(ttlSeconds / 3));
}
