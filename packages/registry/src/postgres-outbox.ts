import { createLogger, errorFields } from "@foundation/core";
import type { DbEnv } from "@foundation/db";
import type { StatusChange } from "./instance.ts";
import { earliest, retryDelayMs, type OutboxState } from "./outbox.ts";
import { writeThrough, type InstanceSnapshot } from "./persistence.ts";
import type { RegistryStorage } from "./registry-storage.ts";

/** Outbox rows written per Postgres transaction. */
const WRITE_BATCH = { instances: 500, changes: 1000 };
/** Batches one flush writes before it lets the alarm come back for the rest. */
const MAX_BATCHES_PER_FLUSH = 20;

/** Outcome of one write-through attempt. */
export type FlushResult = { ok: true; written: number; pending: number } | { ok: false; written: number; pending: number; error: string };

const log = createLogger({ component: "service-registry" });

/**
 * A registry object's outbox for Postgres, in its SQLite storage: the latest snapshot of every changed instance
 * (a newer one replaces an older one not yet written) and every status change, queued in the same storage write
 * as the change itself and written through in batches. Failures and the next retry time are kept in `meta`.
 * Without `DATABASE_URL` nothing is queued.
 */
export class PostgresOutbox {
  private flushing: Promise<FlushResult> | undefined;

  constructor(
    private readonly storage: RegistryStorage,
    private readonly env: Partial<DbEnv>,
    /** The registry's service, for the logs. */
    private readonly registry: () => string | null,
  ) {}

  /** Queues a snapshot (replacing an older one of the same instance) and its status changes. */
  enqueue(snapshot: InstanceSnapshot, changes: readonly StatusChange[], now: number, urgent: boolean): void {
    if (!this.env.DATABASE_URL) return;
    const sql = this.storage.sql;
    sql.exec(
      "INSERT INTO outbox_instances (id, revision, urgent, queued_at, snapshot) VALUES (?, ?, ?, ?, ?) " +
        "ON CONFLICT(id) DO UPDATE SET revision = excluded.revision, urgent = max(urgent, excluded.urgent), snapshot = excluded.snapshot",
      snapshot.id,
      snapshot.revision,
      urgent ? 1 : 0,
      now,
      JSON.stringify(snapshot),
    );
    for (const c of changes) sql.exec("INSERT INTO outbox_changes (queued_at, change) VALUES (?, ?)", now, JSON.stringify(c));
  }

  /** Rows waiting to be written. */
  counts(): { instances: number; changes: number; total: number } {
    if (!this.storage.hasSchema) return { instances: 0, changes: 0, total: 0 };
    const instances = this.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox_instances").one().n;
    const changes = this.storage.sql.exec<{ n: number }>("SELECT count(*) AS n FROM outbox_changes").one().n;
    return { instances, changes, total: instances + changes };
  }

  /** Consecutive failed writes, and when the next attempt is due after them. */
  failures(): { failures: number; retryAt: number | null } {
    return { failures: this.storage.metaNumber("failures") ?? 0, retryAt: this.storage.metaNumber("retryAt") };
  }

  /** What the outbox holds, as far as scheduling is concerned (see `outboxWakeAt`); the tables must exist. */
  schedule(): OutboxState {
    const row = this.storage.sql
      .exec<{ urgent: number | null; lazy: number | null; changes: number | null }>(
        "SELECT (SELECT min(queued_at) FROM outbox_instances WHERE urgent = 1) AS urgent, " +
          "(SELECT min(queued_at) FROM outbox_instances WHERE urgent = 0) AS lazy, " +
          "(SELECT min(queued_at) FROM outbox_changes) AS changes",
      )
      .one();
    return { oldestUrgentAt: earliest(row.urgent, row.changes), oldestLazyAt: row.lazy, ...this.failures() };
  }

  /** Writes the outbox through now, in batches; a call while a flush runs gets that flush's outcome. */
  flush(): Promise<FlushResult> {
    this.flushing ??= this.write().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  /** Writes up to {@link MAX_BATCHES_PER_FLUSH} batches; on failure records it, so the alarm retries with backoff. */
  private async write(): Promise<FlushResult> {
    const sql = this.storage.sql;
    let written = 0;
    for (let batch = 0; batch < MAX_BATCHES_PER_FLUSH && this.env.DATABASE_URL; batch++) {
      const snapshots = sql
        .exec<{ snapshot: string }>("SELECT snapshot FROM outbox_instances ORDER BY queued_at, id LIMIT ?", WRITE_BATCH.instances)
        .toArray()
        .map((r) => JSON.parse(r.snapshot) as InstanceSnapshot);
      const rows = sql
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
        const failures = (this.storage.metaNumber("failures") ?? 0) + 1;
        const retryAt = Date.now() + retryDelayMs(failures);
        this.storage.setMeta("failures", String(failures));
        this.storage.setMeta("retryAt", String(retryAt));
        log.warn("write-through to Postgres failed; retrying", { registry: this.registry(), failures, retryAt, ...errorFields(err) });
        return { ok: false, written, pending: this.counts().total, error: String(err) };
      }
      // Only what was written: a snapshot replaced meanwhile by a newer revision stays queued.
      for (const s of snapshots) sql.exec("DELETE FROM outbox_instances WHERE id = ? AND revision <= ?", s.id, s.revision);
      const lastSeq = rows.at(-1)?.seq;
      if (lastSeq !== undefined) sql.exec("DELETE FROM outbox_changes WHERE seq <= ?", lastSeq);
      this.storage.deleteMeta("failures", "retryAt");
      written += snapshots.length + rows.length;
    }
    return { ok: true, written, pending: this.counts().total };
  }
}
