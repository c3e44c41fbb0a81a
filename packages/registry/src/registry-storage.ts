import type { Instance } from "./instance.ts";

const SCHEMA = [
  "CREATE TABLE IF NOT EXISTS instances (id TEXT PRIMARY KEY, record TEXT NOT NULL)",
  "CREATE TABLE IF NOT EXISTS outbox_instances (id TEXT PRIMARY KEY, revision INTEGER NOT NULL, urgent INTEGER NOT NULL, queued_at INTEGER NOT NULL, snapshot TEXT NOT NULL)",
  "CREATE TABLE IF NOT EXISTS outbox_changes (seq INTEGER PRIMARY KEY, queued_at INTEGER NOT NULL, change TEXT NOT NULL)",
  "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
];

/**
 * A registry object's SQLite storage: instance records, the Postgres outbox (see `postgres-outbox.ts`) and a
 * key/value `meta` table. The tables are created on the first write only, so that a lookup of an unknown
 * service leaves no storage behind.
 */
export class RegistryStorage {
  private schema: boolean;

  constructor(readonly sql: SqlStorage) {
    this.schema = sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").toArray().length > 0;
  }

  /** Whether the tables exist, i.e. anything was ever written. */
  get hasSchema(): boolean {
    return this.schema;
  }

  /** Creates the tables, before the first write. */
  ensureSchema(): void {
    if (this.schema) return;
    for (const statement of SCHEMA) this.sql.exec(statement);
    this.schema = true;
  }

  /** Every stored instance record. */
  instances(): Instance[] {
    return this.sql
      .exec<{ record: string }>("SELECT record FROM instances")
      .toArray()
      .map((row) => JSON.parse(row.record) as Instance);
  }

  /** Stores an instance's record, replacing the one of the same ID. */
  putInstance(instance: Instance): void {
    this.sql.exec("INSERT OR REPLACE INTO instances (id, record) VALUES (?, ?)", instance.id, JSON.stringify(instance));
  }

  /** Deletes an instance's record. */
  deleteInstance(id: string): void {
    this.sql.exec("DELETE FROM instances WHERE id = ?", id);
  }

  /** A `meta` value, or null when unset; the tables must exist. */
  meta(key: string): string | null {
    return this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key).toArray()[0]?.value ?? null;
  }

  /** A numeric `meta` value, or null when unset or nothing was ever written. */
  metaNumber(key: string): number | null {
    const v = this.schema ? this.meta(key) : null;
    return v === null ? null : Number(v);
  }

  /** Sets a `meta` value. */
  setMeta(key: string, value: string): void {
    this.sql.exec("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", key, value);
  }

  /** Unsets `meta` values, in one statement. */
  deleteMeta(...keys: string[]): void {
    this.sql.exec(`DELETE FROM meta WHERE key IN (${keys.map(() => "?").join(", ")})`, ...keys);
  }
}
