import { DurableObject } from "cloudflare:workers";
import {
  createLogger,
  MetricsAggregate,
  type FamilyMeta,
  type IngestResult,
  type MergeResult,
  type MetricFamily,
  type MetricsBatch,
  type MetricType,
  type SourceMark,
  type StoredSeries,
  type SweepResult,
} from "@foundation/core";

const log = createLogger({ service: "gateway", component: "metrics-aggregator" });

/** Most series one service's batches may add to one aggregator object: a fifth of the 50,000 it holds. */
export const MAX_SERIES_PER_SERVICE = 10_000;

/** Counters and histograms no batch carried for this long are dropped. */
export const IDLE_SERIES_TTL_MS = 24 * 3_600_000;

const SCHEMA = [
  "CREATE TABLE IF NOT EXISTS families (name TEXT PRIMARY KEY, type TEXT NOT NULL, help TEXT NOT NULL, buckets TEXT)",
  "CREATE TABLE IF NOT EXISTS series (name TEXT NOT NULL, key TEXT NOT NULL, sample TEXT NOT NULL, PRIMARY KEY (name, key))",
  "CREATE TABLE IF NOT EXISTS sources (isolate TEXT PRIMARY KEY, seq INTEGER NOT NULL, seen_at INTEGER NOT NULL)",
];

/** Columns added to `series` after its first version; rows written before get them as NULL (see the constructor). */
const SERIES_COLUMNS = { owner: "TEXT", updated_at: "INTEGER" };

type FamilyRow = { name: string; type: string; help: string; buckets: string | null };
type SeriesRow = { name: string; key: string; sample: string; owner: string | null; updated_at: number | null };
type SourceRow = { isolate: string; seq: number; seen_at: number };

/**
 * Sums the metric deltas that every worker's isolates send (see `MetricsPusher`), so `/metrics` shows
 * counters that never go back when an isolate is recycled. Each batch is applied once per (isolate, seq) and
 * written to SQLite storage, in one transaction with that mark, before the answer. State is loaded in the
 * constructor; the in-memory aggregate is a cache of the tables. Each service's batches add at most
 * {@link MAX_SERIES_PER_SERVICE} series, so one service (one leaked token) cannot take the room of the others.
 */
export class MetricsAggregator extends DurableObject<object> {
  private readonly aggregate = new MetricsAggregate({ maxSeriesPerService: MAX_SERIES_PER_SERVICE, idleTtlMs: IDLE_SERIES_TTL_MS });

  constructor(ctx: DurableObjectState, env: object) {
    super(ctx, env);
    const sql = ctx.storage.sql;
    for (const statement of SCHEMA) sql.exec(statement);
    const columns = new Set(
      sql
        .exec<{ name: string }>("PRAGMA table_info(series)")
        .toArray()
        .map((c) => c.name),
    );
    for (const [column, type] of Object.entries(SERIES_COLUMNS)) {
      if (!columns.has(column)) sql.exec(`ALTER TABLE series ADD COLUMN ${column} ${type}`);
    }
    const now = Date.now();
    const families = sql.exec<FamilyRow>("SELECT name, type, help, buckets FROM families").toArray();
    const series = sql.exec<SeriesRow>("SELECT name, key, sample, owner, updated_at FROM series").toArray();
    const sources = sql.exec<SourceRow>("SELECT isolate, seq, seen_at FROM sources").toArray();
    this.aggregate.load(
      families.map((f) => ({
        name: f.name,
        type: f.type as MetricType,
        help: f.help,
        ...(f.buckets ? { buckets: JSON.parse(f.buckets) as number[] } : {}),
      })),
      series.map((s) => {
        const sample = JSON.parse(s.sample) as StoredSeries["sample"];
        // Rows from before owners were kept belong to their `service` label, and their idle time starts now.
        return { name: s.name, key: s.key, sample, owner: s.owner ?? sample.labels.service ?? "", updatedAt: s.updated_at ?? now };
      }),
      sources.map((s) => ({ isolate: s.isolate, seq: s.seq, seenAt: s.seen_at })),
    );
  }

  /** Applies one isolate's batch of deltas, unless it was applied before (a retry). */
  ingest(batch: MetricsBatch): IngestResult {
    const result = this.aggregate.accept(batch, Date.now());
    if (result.duplicate) return { duplicate: true, conflicts: [], dropped: 0 };
    this.persist(result, result.source);
    if (result.conflicts.length > 0 || result.dropped > 0) {
      const held = { total: this.aggregate.size, service: this.aggregate.ownedBy(batch.service) };
      log.warn("metrics refused", { service: batch.service, conflicts: result.conflicts, dropped: result.dropped, held });
    }
    return { duplicate: false, conflicts: result.conflicts, dropped: result.dropped };
  }

  /** Drops the series whose labels match `match` (a deleted stream's, say; see `MetricsAggregate.forget`); answers how many went. */
  forget(match: Readonly<Record<string, readonly string[]>>): number {
    const removed = this.aggregate.forget(match);
    this.remove(removed);
    return removed.series.length;
  }

  /**
   * Every aggregated family, after dropping gauges nobody set within an hour, counters and histograms nobody sent
   * within a day, and the families they leave empty, and forgetting silent isolates.
   */
  families(): MetricFamily[] {
    this.remove(this.aggregate.sweep(Date.now()));
    return this.aggregate.families();
  }

  /** Deletes from storage what the aggregate dropped. */
  private remove(dropped: SweepResult): void {
    if (dropped.series.length === 0 && dropped.families.length === 0 && dropped.isolates.length === 0) return;
    const sql = this.ctx.storage.sql;
    this.write(() => {
      for (const s of dropped.series) sql.exec("DELETE FROM series WHERE name = ? AND key = ?", s.name, s.key);
      for (const name of dropped.families) sql.exec("DELETE FROM families WHERE name = ?", name);
      for (const isolate of dropped.isolates) sql.exec("DELETE FROM sources WHERE isolate = ?", isolate);
    });
  }

  private persist(changes: MergeResult, source: SourceMark): void {
    const sql = this.ctx.storage.sql;
    this.write(() => {
      for (const f of changes.families) this.upsertFamily(f);
      for (const s of changes.series) {
        sql.exec(
          "INSERT INTO series (name, key, sample, owner, updated_at) VALUES (?, ?, ?, ?, ?) " +
            "ON CONFLICT(name, key) DO UPDATE SET sample = excluded.sample, owner = excluded.owner, updated_at = excluded.updated_at",
          s.name,
          s.key,
          JSON.stringify(s.sample),
          s.owner,
          s.updatedAt,
        );
      }
      sql.exec(
        "INSERT INTO sources (isolate, seq, seen_at) VALUES (?, ?, ?) ON CONFLICT(isolate) DO UPDATE SET seq = excluded.seq, seen_at = excluded.seen_at",
        source.isolate,
        source.seq,
        source.seenAt,
      );
    });
  }

  private upsertFamily(f: FamilyMeta): void {
    this.ctx.storage.sql.exec(
      "INSERT INTO families (name, type, help, buckets) VALUES (?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET help = excluded.help",
      f.name,
      f.type,
      f.help,
      f.buckets ? JSON.stringify(f.buckets) : null,
    );
  }

  /** Runs the writes in one transaction; if they fail, the object restarts so memory is reloaded from storage. */
  private write(writes: () => void): void {
    try {
      this.ctx.storage.transactionSync(writes);
    } catch (err) {
      this.ctx.abort("metrics state could not be written");
      throw err;
    }
  }
}
