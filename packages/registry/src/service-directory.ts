import { DurableObject } from "cloudflare:workers";

/**
 * The names of the services that have instances, so the registry can be listed without scanning. Each
 * `ServiceRegistry` reports when its service gains its first instance or loses its last one, with its own
 * revision: reports can arrive late or twice, and the directory keeps the one with the highest revision.
 * Storage is SQLite; the set of present names is a cache of it.
 */
export class ServiceDirectory extends DurableObject<object> {
  private readonly present = new Set<string>();

  constructor(ctx: DurableObjectState, env: object) {
    super(ctx, env);
    ctx.storage.sql.exec(
      "CREATE TABLE IF NOT EXISTS services (name TEXT PRIMARY KEY, present INTEGER NOT NULL, revision INTEGER NOT NULL, updated_at INTEGER NOT NULL)",
    );
    for (const row of ctx.storage.sql.exec<{ name: string }>("SELECT name FROM services WHERE present = 1")) this.present.add(row.name);
  }

  /** Records that `service` has (or no longer has) instances as of its registry's `revision`; false when a newer report was already applied. */
  report(service: string, present: boolean, revision: number, now: number = Date.now()): boolean {
    const sql = this.ctx.storage.sql;
    const known = sql.exec<{ revision: number }>("SELECT revision FROM services WHERE name = ?", service).toArray()[0];
    if (known && known.revision >= revision) return false;
    sql.exec(
      "INSERT INTO services (name, present, revision, updated_at) VALUES (?, ?, ?, ?) " +
        "ON CONFLICT(name) DO UPDATE SET present = excluded.present, revision = excluded.revision, updated_at = excluded.updated_at",
      service,
      present ? 1 : 0,
      revision,
      now,
    );
    if (present) this.present.add(service);
    else this.present.delete(service);
    return true;
  }

  /** The names of the services that have instances, sorted. */
  names(): string[] {
    return [...this.present].sort();
  }
}
