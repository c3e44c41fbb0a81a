import { DurableObject } from "cloudflare:workers";
import { bindingNamed, createLogger, errorFields } from "@foundation/core";
import type { DbEnv } from "@foundation/db";
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
import { earliest, outboxWakeAt, retryDelayMs, type OutboxState } from "./outbox.ts";
import { writeThrough, type InstanceSnapshot } from "./persistence.ts";
import { parseRegistration } from "./registration.ts";
import { DIRECTORY_NAME, HeartbeatRequest } from "./schemas.ts";
import type { ServiceDirectory } from "./service-directory.ts";
import type { DeregisterResult, HeartbeatResult, NamespaceOf, RegisterResult, ServiceSnapshot, StatusListenerStub } from "./types.ts";

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
/** Outbox rows written per Postgres transaction. */
const WRITE_BATCH = { instances: 500, changes: 1000 };
/** Batches one flush writes before it lets the alarm come back for the rest. */
const MAX_BATCHES_PER_FLUSH = 20;
/** Wait before a failed directory report is sent again. */
const DIRECTORY_RETRY_MS = 1000;

/** Outcome of one write-through attempt. */
export type FlushResult = { ok: true; written: number; pending: number } | { ok: false; written: number; pending: number; error: string };

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

interface DirectoryReport {
  present: boolean;
  revision: number;
}

const log = createLogger({ component: "service-registry" });

/** A change with its deterministic ID (`<instance>:<revision>:<n>`). */
function numbered(c: PendingChange, revision: number, n: number): StatusChange {
  return { changeId: `${c.instanceId}:${revision}:${n}`, ...c };
}

const SCHEMA = [
  "CREATE TABLE IF NOT EXISTS instances (id TEXT PRIMARY KEY, record TEXT NOT NULL)",
  "CREATE TABLE IF NOT EXISTS outbox_instances (id TEXT PRIMARY KEY, revision INTEGER NOT NULL, urgent INTEGER NOT NULL, queued_at INTEGER NOT NULL, snapshot TEXT NOT NULL)",
  "CREATE TABLE IF NOT EXISTS outbox_changes (seq INTEGER PRIMARY KEY, queued_at INTEGER NOT NULL, change TEXT NOT NULL)",
  "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
];

/**
 * The instances of one service (one object per service name). Every change is written to the object's
 * SQLite storage before the answer leaves, together with an outbox row for Postgres; the fields are caches
 * of that storage. One alarm does all time-driven work: it records TTL expiries and deregistrations
 * (see `instance.ts`), re-sends a failed directory report, writes the outbox through to Postgres with
 * backoff, and re-arms itself for the next of those. Running it twice, or early, changes nothing more.
 * Methods take an optional `now` so tests can drive time.
 */
export class ServiceRegistry extends DurableObject<RegistryEnv> {
  private readonly sql: SqlStorage;
  private readonly instances = new Map<string, Instance>();
  private readonly byAddress = new Map<string, string>();
  private serviceName: string | null = null;
  private revision = 0;
  private hasSchema: boolean;
  private flushing: Promise<FlushResult> | undefined;
  /** Status changes not yet announced to the status listener; announcing is best effort, so this is a cache only. */
  private unannounced: StatusChange[] = [];

  constructor(ctx: DurableObjectState, env: RegistryEnv) {
    super(ctx, env);
    this.sql = ctx.storage.sql;
    // Reads never create storage: a lookup of an unknown service leaves nothing behind.
    this.hasSchema = this.sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").toArray().length > 0;
    if (this.hasSchema) this.load();
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
    if (this.hasSchema) {
      for (const id of [...this.instances.keys()]) this.settleOne(id, now);
      this.trackPresence();
      if (this.directoryReport()) await this.reportToDirectory();
      if (this.outboxCounts().total > 0) await this.flush();
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
    this.flushing ??= this.writeOutbox().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  /** Everything the object holds. */
  async state(): Promise<RegistryState> {
    const counts = this.outboxCounts();
    return {
      service: this.serviceName,
      revision: this.revision,
      instances: [...this.instances.values()].sort((a, b) => a.id.localeCompare(b.id)),
      outbox: {
        instances: counts.instances,
        changes: counts.changes,
        failures: this.metaNumber("failures") ?? 0,
        retryAt: this.metaNumber("retryAt"),
      },
      directoryPending: this.directoryReport() !== null,
      alarmAt: await this.ctx.storage.getAlarm(),
    };
  }

  private load(): void {
    this.serviceName = this.meta("service");
    this.revision = this.metaNumber("revision") ?? 0;
    for (const row of this.sql.exec<{ record: string }>("SELECT record FROM instances")) {
      const i = JSON.parse(row.record) as Instance;
      this.instances.set(i.id, i);
      this.byAddress.set(addressKey(i), i.id);
    }
  }

  private ensureSchema(): void {
    if (this.hasSchema) return;
    for (const statement of SCHEMA) this.sql.exec(statement);
    this.hasSchema = true;
  }

  private bindTo(service: string): void {
    this.ensureSchema();
    if (this.serviceName === service) return;
    if (this.serviceName !== null) throw new Error(`this registry object holds ${this.serviceName}, not ${service}`);
    this.serviceName = service;
    this.setMeta("service", service);
  }

  private nextRevision(): number {
    this.revision += 1;
    this.setMeta("revision", String(this.revision));
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
    this.sql.exec("INSERT OR REPLACE INTO instances (id, record) VALUES (?, ?)", instance.id, JSON.stringify(instance));
    this.enqueue({ ...instance, deregisteredAt: null }, changes, now, urgent);
  }

  private remove(instance: Instance, changes: PendingChange[], now: number, at: number = now): void {
    const removed = { ...instance, revision: this.revision };
    this.instances.delete(instance.id);
    if (this.byAddress.get(addressKey(instance)) === instance.id) this.byAddress.delete(addressKey(instance));
    this.sql.exec("DELETE FROM instances WHERE id = ?", instance.id);
    this.enqueue({ ...removed, deregisteredAt: at }, changes, now, true);
  }

  /** Queues a snapshot (replacing an older one of the same instance) and the status changes for Postgres. */
  private enqueue(snapshot: InstanceSnapshot, changes: PendingChange[], now: number, urgent: boolean): void {
    if (this.env.STATUS_DASHBOARD) this.unannounced.push(...changes.map((c, n) => numbered(c, snapshot.revision, n)));
    if (!this.env.DATABASE_URL) return;
    this.sql.exec(
      "INSERT INTO outbox_instances (id, revision, urgent, queued_at, snapshot) VALUES (?, ?, ?, ?, ?) " +
        "ON CONFLICT(id) DO UPDATE SET revision = excluded.revision, urgent = max(urgent, excluded.urgent), snapshot = excluded.snapshot",
      snapshot.id,
      snapshot.revision,
      urgent ? 1 : 0,
      now,
      JSON.stringify(snapshot),
    );
    changes.forEach((c, n) => {
      this.sql.exec("INSERT INTO outbox_changes (queued_at, change) VALUES (?, ?)", now, JSON.stringify(numbered(c, snapshot.revision, n)));
    });
  }

  private async afterChange(): Promise<void> {
    this.trackPresence();
    if (this.directoryReport()) await this.reportToDirectory();
    await this.scheduleAlarm(false);
    await this.announce();
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

  /** Queues a directory report when the service gained its first instance or lost its last one. */
  private trackPresence(): void {
    if (!this.hasSchema || this.serviceName === null) return;
    const present = this.instances.size > 0;
    if ((this.meta("directoryPresent") === "1") === present) return;
    this.setMeta("directoryPresent", present ? "1" : "0");
    this.setMeta("directoryReport", JSON.stringify({ present, revision: this.revision } satisfies DirectoryReport));
  }

  private directoryReport(): DirectoryReport | null {
    const raw = this.hasSchema ? this.meta("directoryReport") : null;
    return raw === null ? null : (JSON.parse(raw) as DirectoryReport);
  }

  private async reportToDirectory(): Promise<void> {
    const report = this.directoryReport();
    if (!report || this.serviceName === null) return;
    try {
      const ns = this.env.SERVICE_DIRECTORY;
      await ns.get(ns.idFromName(DIRECTORY_NAME)).report(this.serviceName, report.present, report.revision);
      if (this.directoryReport()?.revision === report.revision) {
        this.sql.exec("DELETE FROM meta WHERE key IN ('directoryReport', 'directoryRetryAt')");
      }
    } catch (err) {
      this.setMeta("directoryRetryAt", String(Date.now() + DIRECTORY_RETRY_MS));
      log.warn("directory report failed; retrying", { registry: this.serviceName, ...errorFields(err) });
    }
  }

  private outboxCounts(): { instances: number; changes: number; total: number } {
    if (!this.hasSchema) return { instances: 0, changes: 0, total: 0 };
    const instances = this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox_instances").one().n;
    const changes = this.sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox_changes").one().n;
    return { instances, changes, total: instances + changes };
  }

  private outboxState(): OutboxState {
    const row = this.sql
      .exec<{ urgent: number | null; lazy: number | null; changes: number | null }>(
        "SELECT (SELECT min(queued_at) FROM outbox_instances WHERE urgent = 1) AS urgent, " +
          "(SELECT min(queued_at) FROM outbox_instances WHERE urgent = 0) AS lazy, " +
          "(SELECT min(queued_at) FROM outbox_changes) AS changes",
      )
      .one();
    return {
      oldestUrgentAt: earliest(row.urgent, row.changes),
      oldestLazyAt: row.lazy,
      failures: this.metaNumber("failures") ?? 0,
      retryAt: this.metaNumber("retryAt"),
    };
  }

  /** Arms the alarm for the next thing to do; outside the alarm it only ever moves the alarm earlier. */
  private async scheduleAlarm(exact: boolean): Promise<void> {
    const wanted = this.hasSchema
      ? earliest(nextTransitionAt(this.instances.values()), outboxWakeAt(this.outboxState()), this.metaNumber("directoryRetryAt"))
      : null;
    const current = await this.ctx.storage.getAlarm();
    if (wanted === null) {
      if (exact && current !== null) await this.ctx.storage.deleteAlarm();
      return;
    }
    if (exact ? current !== wanted : current === null || wanted < current) await this.ctx.storage.setAlarm(wanted);
  }

  private async writeOutbox(): Promise<FlushResult> {
    let written = 0;
    for (let batch = 0; batch < MAX_BATCHES_PER_FLUSH && this.env.DATABASE_URL; batch++) {
      const snapshots = this.sql
        .exec<{ snapshot: string }>("SELECT snapshot FROM outbox_instances ORDER BY queued_at, id LIMIT ?", WRITE_BATCH.instances)
        .toArray()
        .map((r) => JSON.parse(r.snapshot) as InstanceSnapshot);
      const rows = this.sql
        .exec<{ seq: number; change: string }>("SELECT seq, change FROM outbox_changes ORDER BY seq LIMIT ?", WRITE_BATCH.changes)
        .toArray();
      if (snapshots.length === 0 && rows.length === 0) break;
      try {
        await writeThrough(
          this.env as DbEnv,
          snapshots,
          rows.map((r) => JSON.parse(r.change) as StatusChange),
        );
      } catch (err) {
        const failures = (this.metaNumber("failures") ?? 0) + 1;
        const retryAt = Date.now() + retryDelayMs(failures);
        this.setMeta("failures", String(failures));
        this.setMeta("retryAt", String(retryAt));
        log.warn("write-through to Postgres failed; retrying", { registry: this.serviceName, failures, retryAt, ...errorFields(err) });
        return { ok: false, written, pending: this.outboxCounts().total, error: String(err) };
      }
      for (const s of snapshots) this.sql.exec("DELETE FROM outbox_instances WHERE id = ? AND revision <= ?", s.id, s.revision);
      const lastSeq = rows.at(-1)?.seq;
      if (lastSeq !== undefined) this.sql.exec("DELETE FROM outbox_changes WHERE seq <= ?", lastSeq);
      this.sql.exec("DELETE FROM meta WHERE key IN ('failures', 'retryAt')");
      written += snapshots.length + rows.length;
    }
    return { ok: true, written, pending: this.outboxCounts().total };
  }

  private meta(key: string): string | null {
    return this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key).toArray()[0]?.value ?? null;
  }

  private metaNumber(key: string): number | null {
    const v = this.hasSchema ? this.meta(key) : null;
    return v === null ? null : Number(v);
  }

  private setMeta(key: string, value: string): void {
    this.sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", key, value);
  }
}
