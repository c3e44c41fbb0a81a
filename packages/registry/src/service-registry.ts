import { DurableObject } from "cloudflare:workers";
import { bindingNamed, createLogger, errorFields } from "@foundation/core";
import type { DbEnv } from "@foundation/db";
import { DirectoryReporter } from "./directory-report.ts";
import {
  addressKey,
  deregister,
  heartbeat,
  heartbeatIntervalSeconds,
  nextTransitionAt,
  register,
  settle,
  viewAt,
  type Instance,
  type PendingChange,
  type StatusChange,
} from "./instance.ts";
import { earliest, outboxWakeAt } from "./outbox.ts";
import type { InstanceSnapshot } from "./persistence.ts";
import { PostgresOutbox, type FlushResult } from "./postgres-outbox.ts";
import { RegistryStorage } from "./registry-storage.ts";
import { parseRegistration } from "./registration.ts";
import { HeartbeatRequest } from "./schemas.ts";
import type { ServiceDirectory } from "./service-directory.ts";
import type { DeregisterResult, HeartbeatResult, NamespaceOf, RegisterResult, ServiceSnapshot, StatusListenerStub } from "./types.ts";

export type { FlushResult } from "./postgres-outbox.ts";

/** Bindings the registry objects use (the gateway's env). Without `DATABASE_URL` nothing is written through. */
export interface RegistryEnv extends Partial<DbEnv> {
  ENVIRONMENT?: string;
  SERVICE_DIRECTORY: DurableObjectNamespace<ServiceDirectory>;
  /** Told about every status change (the gateway's live status dashboard); optional. */
  STATUS_DASHBOARD?: NamespaceOf<StatusListenerStub>;
}

/** The one status listener object every registry notifies. */
export const STATUS_LISTENER_NAME = "status";

/** Most instances one service may have; a registration beyond it is refused. */
export const MAX_INSTANCES_PER_SERVICE = 1000;

/** Everything the object holds, for tests and operators. */
export interface RegistryState {
  service: string | null;
  revision: number;
  /** As stored (not settled to the current time). */
  instances: Instance[];
  outbox: { instances: number; changes: number; failures: number; retryAt: number | null };
  directoryPending: boolean;
  alarmAt: number | null;
}

const log = createLogger({ component: "service-registry" });

/** A change with its deterministic ID (`<instance>:<revision>:<n>`). */
function numbered(c: PendingChange, revision: number, n: number): StatusChange {
  return { changeId: `${c.instanceId}:${revision}:${n}`, ...c };
}

/**
 * The instances of one service (one object per service name). Every change is written to the object's
 * SQLite storage (`registry-storage.ts`) before the answer leaves, together with an outbox row for Postgres
 * (`postgres-outbox.ts`); the fields are caches of that storage. One alarm does all time-driven work: it
 * records TTL expiries and deregistrations (see `instance.ts`), re-sends a failed directory report
 * (`directory-report.ts`), writes the outbox through to Postgres with backoff, and re-arms itself for the
 * next of those. Running it twice, or early, changes nothing more. Methods take an optional `now` so tests
 * can drive time.
 */
export class ServiceRegistry extends DurableObject<RegistryEnv> {
  private readonly storage: RegistryStorage;
  private readonly outbox: PostgresOutbox;
  private readonly directory: DirectoryReporter;
  private readonly instances = new Map<string, Instance>();
  private readonly byAddress = new Map<string, string>();
  private serviceName: string | null = null;
  private revision = 0;
  /** Status changes not yet announced to the status listener; announcing is best effort, so this is a cache only. */
  private unannounced: StatusChange[] = [];

  constructor(ctx: DurableObjectState, env: RegistryEnv) {
    super(ctx, env);
    this.storage = new RegistryStorage(ctx.storage.sql);
    this.outbox = new PostgresOutbox(this.storage, env, () => this.serviceName);
    this.directory = new DirectoryReporter(this.storage, env.SERVICE_DIRECTORY);
    // Reads never create storage: a lookup of an unknown service leaves nothing behind.
    if (this.storage.hasSchema) this.load();
  }

  /**
   * Registers an instance, or refreshes the one registered at the same URL or binding (same ID, counts as
   * a heartbeat). The input is validated here too, so RPC callers get the same rules as the HTTP API.
   */
  async register(input: unknown, now: number = Date.now()): Promise<RegisterResult> {
    const parsed = parseRegistration(input, {
      local: this.env.ENVIRONMENT === "local",
      isServiceBinding: (b) => bindingNamed(this.env, b) !== undefined,
    });
    if (!parsed.ok) return { ok: false, error: "invalid", issues: parsed.issues };
    const reg = parsed.registration;
    this.bindTo(reg.service);
    const existingId = this.byAddress.get(addressKey(reg));
    const existing = existingId === undefined ? undefined : this.settleOne(existingId, now);
    if (!existing && this.instances.size >= MAX_INSTANCES_PER_SERVICE) {
      await this.afterChange();
      return { ok: false, error: "full", limit: MAX_INSTANCES_PER_SERVICE };
    }
    const t = register(existing, reg, crypto.randomUUID(), now, this.nextRevision());
    this.save(t.instance, t.changes, now, true);
    await this.afterChange();
    return {
      ok: true,
      instanceId: t.instance.id,
      heartbeatIntervalSeconds: heartbeatIntervalSeconds(reg.ttlMs / 1000),
      created: !existing,
    };
  }

  /** Renews an instance's TTL and records the status it reports (default `passing`). */
  async heartbeat(service: string, instanceId: string, input: unknown = {}, now: number = Date.now()): Promise<HeartbeatResult> {
    const parsed = HeartbeatRequest.safeParse(input);
    if (!parsed.success) {
      return {
        ok: false,
        error: "invalid",
        issues: parsed.error.issues.map((i) => ({ path: i.path.map(String), message: i.message, code: i.code })),
      };
    }
    if (this.serviceName !== service) return { ok: false, error: "not-found" };
    const existing = this.settleOne(instanceId, now);
    if (!existing) {
      await this.afterChange();
      return { ok: false, error: "not-found" };
    }
    const t = heartbeat(existing, parsed.data, now, this.nextRevision());
    this.save(t.instance, t.changes, now, t.changes.length > 0);
    await this.afterChange();
    return { ok: true, instance: t.instance, heartbeatIntervalSeconds: heartbeatIntervalSeconds(t.instance.ttlMs / 1000) };
  }

  /** Removes an instance at once. */
  async deregister(service: string, instanceId: string, now: number = Date.now()): Promise<DeregisterResult> {
    if (this.serviceName !== service) return { ok: false, error: "not-found" };
    const existing = this.settleOne(instanceId, now);
    if (!existing) {
      await this.afterChange();
      return { ok: false, error: "not-found" };
    }
    this.nextRevision();
    this.remove(existing, deregister(existing, now), now);
    await this.afterChange();
    return { ok: true };
  }

  /** The service's instances as of `now`: an instance past its TTL reads as critical even before the alarm records it. */
  service(name: string, now: number = Date.now()): ServiceSnapshot {
    if (this.serviceName !== name) return { name, instances: [], revision: 0, at: now };
    const instances: Instance[] = [];
    for (const i of this.instances.values()) {
      const seen = viewAt(i, now);
      if (seen) instances.push(seen);
    }
    instances.sort((a, b) => a.registeredAt - b.registeredAt || a.id.localeCompare(b.id));
    return { name, instances, revision: this.revision, at: now };
  }

  /**
   * What the alarm does, as of `now`: records TTL expiries and deregistrations, re-sends a pending
   * directory report, writes the outbox through, and re-arms the alarm for the next thing to do.
   */
  async tick(now: number = Date.now()): Promise<RegistryState> {
    if (this.storage.hasSchema) {
      for (const id of [...this.instances.keys()]) this.settleOne(id, now);
      await this.reportPresence();
      if (this.outbox.counts().total > 0) await this.flush();
    }
    await this.scheduleAlarm(true);
    await this.announce();
    return this.state();
  }

  override async alarm(): Promise<void> {
    await this.tick(Date.now());
  }

  /** Writes the outbox through to Postgres now, in batches; on failure the next attempt is scheduled with backoff. */
  flush(): Promise<FlushResult> {
    return this.outbox.flush();
  }

  /** Everything the object holds. */
  async state(): Promise<RegistryState> {
    const counts = this.outbox.counts();
    return {
      service: this.serviceName,
      revision: this.revision,
      instances: [...this.instances.values()].sort((a, b) => a.id.localeCompare(b.id)),
      outbox: { instances: counts.instances, changes: counts.changes, ...this.outbox.failures() },
      directoryPending: this.directory.isPending(),
      alarmAt: await this.ctx.storage.getAlarm(),
    };
  }

  private load(): void {
    this.serviceName = this.storage.meta("service");
    this.revision = this.storage.metaNumber("revision") ?? 0;
    for (const i of this.storage.instances()) {
      this.instances.set(i.id, i);
      this.byAddress.set(addressKey(i), i.id);
    }
  }

  private bindTo(service: string): void {
    this.storage.ensureSchema();
    if (this.serviceName === service) return;
    if (this.serviceName !== null) throw new Error(`this registry object holds ${this.serviceName}, not ${service}`);
    this.serviceName = service;
    this.storage.setMeta("service", service);
  }

  private nextRevision(): number {
    this.revision += 1;
    this.storage.setMeta("revision", String(this.revision));
    return this.revision;
  }

  /** Applies the time-driven transitions of one instance as of `now`; returns it unless that deregistered it. */
  private settleOne(id: string, now: number): Instance | undefined {
    const current = this.instances.get(id);
    if (!current) return undefined;
    const { instance, changes, deregisteredAt } = settle(current, now);
    if (changes.length === 0) return current;
    const revision = this.nextRevision();
    if (deregisteredAt !== null) {
      this.remove({ ...instance, revision }, changes, now, deregisteredAt);
      return undefined;
    }
    const updated = { ...instance, revision };
    this.save(updated, changes, now, true);
    return updated;
  }

  private save(instance: Instance, changes: PendingChange[], now: number, urgent: boolean): void {
    this.instances.set(instance.id, instance);
    this.byAddress.set(addressKey(instance), instance.id);
    this.storage.putInstance(instance);
    this.enqueue({ ...instance, deregisteredAt: null }, changes, now, urgent);
  }

  private remove(instance: Instance, changes: PendingChange[], now: number, at: number = now): void {
    const removed = { ...instance, revision: this.revision };
    this.instances.delete(instance.id);
    if (this.byAddress.get(addressKey(instance)) === instance.id) this.byAddress.delete(addressKey(instance));
    this.storage.deleteInstance(instance.id);
    this.enqueue({ ...removed, deregisteredAt: at }, changes, now, true);
  }

  /** Numbers the changes and hands them to the status listener's queue and the Postgres outbox. */
  private enqueue(snapshot: InstanceSnapshot, pending: PendingChange[], now: number, urgent: boolean): void {
    const changes = pending.map((c, n) => numbered(c, snapshot.revision, n));
    if (this.env.STATUS_DASHBOARD) this.unannounced.push(...changes);
    this.outbox.enqueue(snapshot, changes, now, urgent);
  }

  private async afterChange(): Promise<void> {
    await this.reportPresence();
    await this.scheduleAlarm(false);
    await this.announce();
  }

  /** Tells the directory when the service gained its first instance or lost its last one. */
  private reportPresence(): Promise<void> {
    return this.directory.update(this.serviceName, this.instances.size > 0, this.revision);
  }

  /**
   * Tells the status listener (the live dashboard) about the changes since the last announcement. Best
   * effort: the dashboard re-reads the registry on its own, so a lost announcement only delays a screen.
   */
  private async announce(): Promise<void> {
    const ns = this.env.STATUS_DASHBOARD;
    const changes = this.unannounced;
    this.unannounced = [];
    if (!ns || changes.length === 0) return;
    try {
      await ns.get(ns.idFromName(STATUS_LISTENER_NAME)).statusChanged(changes);
    } catch (err) {
      log.warn("status listener not told of changes", { registry: this.serviceName, changes: changes.length, ...errorFields(err) });
    }
  }

  /** Arms the alarm for the next thing to do; outside the alarm it only ever moves the alarm earlier. */
  private async scheduleAlarm(exact: boolean): Promise<void> {
    const wanted = this.storage.hasSchema
      ? earliest(nextTransitionAt(this.instances.values()), outboxWakeAt(this.outbox.schedule()), this.directory.retryAt())
      : null;
    const current = await this.ctx.storage.getAlarm();
    if (wanted === null) {
      if (exact && current !== null) await this.ctx.storage.deleteAlarm();
      return;
    }
    if (exact ? current !== wanted : current === null || wanted < current) await this.ctx.storage.setAlarm(wanted);
  }
}
