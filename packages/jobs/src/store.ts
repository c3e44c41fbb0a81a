import type { Start } from "./plan.ts";
import type { Backoff, JobBrief, JobState, JobView, Keep, Repeat, ScheduleInput } from "./schema.ts";

/**
 * The SQLite tables of one queue object, and the statements on them. `jobs` keeps every job until retention removes
 * it; `waiting` jobs are picked by (priority, due time, insertion order), `delayed` ones become `waiting` when due.
 */

/** The slice of `ctx.storage.sql` this module uses. */
export type Sql = SqlStorage;

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY, seq INTEGER NOT NULL, name TEXT NOT NULL, data TEXT NOT NULL, state TEXT NOT NULL,
    priority INTEGER NOT NULL, run_at INTEGER NOT NULL, cost INTEGER NOT NULL, attempts INTEGER NOT NULL,
    attempts_made INTEGER NOT NULL, backoff TEXT NOT NULL, timeout_ms INTEGER NOT NULL, progress TEXT, result TEXT,
    failed_reason TEXT, created_at INTEGER NOT NULL, started_at INTEGER, finished_at INTEGER, lease_until INTEGER,
    schedule TEXT)`,
  "CREATE INDEX IF NOT EXISTS jobs_pick ON jobs (state, priority, run_at, seq)",
  "CREATE INDEX IF NOT EXISTS jobs_due ON jobs (state, run_at)",
  "CREATE INDEX IF NOT EXISTS jobs_finished ON jobs (state, finished_at)",
  "CREATE INDEX IF NOT EXISTS jobs_seq ON jobs (state, seq)",
  "CREATE TABLE IF NOT EXISTS schedules (id TEXT PRIMARY KEY, repeat TEXT NOT NULL, job TEXT NOT NULL, next_run_at INTEGER, created_at INTEGER NOT NULL)",
  "CREATE TABLE IF NOT EXISTS starts (at INTEGER NOT NULL, cost INTEGER NOT NULL)",
  "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
];

/** The stored states: `waiting` and `delayed` as the API shows them. */
export type StoredState = JobState;

/** A row of `jobs`. */
export type JobRow = {
  id: string;
  seq: number;
  name: string;
  data: string;
  state: StoredState;
  priority: number;
  run_at: number;
  cost: number;
  attempts: number;
  attempts_made: number;
  backoff: string;
  timeout_ms: number;
  progress: string | null;
  result: string | null;
  failed_reason: string | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  lease_until: number | null;
  schedule: string | null;
};

/** A job ready to be stored. */
export interface NewJob {
  id: string;
  name: string;
  data: unknown;
  priority: number;
  runAt: number;
  cost: number;
  attempts: number;
  backoff: Backoff;
  timeoutMs: number;
  createdAt: number;
  schedule?: string;
}

/** Creates the tables; answers the highest insertion number in use. */
export function migrate(sql: Sql): number {
  for (const statement of SCHEMA) sql.exec(statement);
  return sql.exec<{ seq: number | null }>("SELECT max(seq) AS seq FROM jobs").one().seq ?? 0;
}

/** A value of `meta`, parsed. */
export function readMeta<T>(sql: Sql, key: string): T | undefined {
  const row = sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key).toArray()[0];
  return row ? (JSON.parse(row.value) as T) : undefined;
}

/** Writes a value of `meta`. */
export function writeMeta(sql: Sql, key: string, value: unknown): void {
  sql.exec("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", key, JSON.stringify(value));
}

/** Stores a job as waiting or delayed (by `now`); false when a job with its id exists (nothing written). */
export function insertJob(sql: Sql, job: NewJob, seq: number, now: number): boolean {
  const cursor = sql.exec(
    `INSERT INTO jobs (id, seq, name, data, state, priority, run_at, cost, attempts, attempts_made, backoff, timeout_ms, created_at, schedule)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING`,
    job.id,
    seq,
    job.name,
    JSON.stringify(job.data ?? null),
    job.runAt > now ? "delayed" : "waiting",
    job.priority,
    job.runAt,
    job.cost,
    job.attempts,
    JSON.stringify(job.backoff),
    job.timeoutMs,
    job.createdAt,
    job.schedule ?? null,
  );
  return cursor.rowsWritten > 0;
}

/** One job by id. */
export function findJob(sql: Sql, id: string): JobRow | undefined {
  return sql.exec<JobRow>("SELECT * FROM jobs WHERE id = ?", id).toArray()[0];
}

/** Makes delayed jobs whose time has come waiting. */
export function promoteDue(sql: Sql, now: number): void {
  sql.exec("UPDATE jobs SET state = 'waiting' WHERE state = 'delayed' AND run_at <= ?", now);
}

/** The next waiting jobs in the order they run: priority, due time, insertion. */
export function nextWaiting(sql: Sql, limit: number): JobRow[] {
  return sql.exec<JobRow>("SELECT * FROM jobs WHERE state = 'waiting' ORDER BY priority, run_at, seq LIMIT ?", limit).toArray();
}

/** The earliest time something is due: a delayed job, or an active job's lease running out. */
export function nextDueAt(sql: Sql): number | null {
  const row = sql
    .exec<{ delayed: number | null; lease: number | null }>(
      "SELECT (SELECT min(run_at) FROM jobs WHERE state = 'delayed') AS delayed, (SELECT min(lease_until) FROM jobs WHERE state = 'active') AS lease",
    )
    .one();
  const times = [row.delayed, row.lease].filter((t): t is number => t !== null);
  return times.length > 0 ? Math.min(...times) : null;
}

/** Number of jobs in each state. */
export function countStates(sql: Sql): Record<JobState, number> {
  const counts: Record<JobState, number> = { waiting: 0, delayed: 0, active: 0, completed: 0, failed: 0, cancelled: 0 };
  for (const row of sql.exec<{ state: JobState; n: number }>("SELECT state, count(*) AS n FROM jobs GROUP BY state"))
    counts[row.state] = row.n;
  return counts;
}

/**
 * Jobs that completed, and jobs that failed for good, since `since`: counted among the finished jobs the queue keeps
 * (the `jobs_finished` index), so retention that removes jobs sooner lowers the counts.
 */
export function finishedSince(sql: Sql, since: number): { completed: number; failed: number } {
  const counts = { completed: 0, failed: 0 };
  const rows = sql.exec<{ state: "completed" | "failed"; n: number }>(
    "SELECT state, count(*) AS n FROM jobs WHERE state IN ('completed', 'failed') AND finished_at >= ? GROUP BY state",
    since,
  );
  for (const row of rows) counts[row.state] = row.n;
  return counts;
}

/** The columns of a {@link JobBrief}: no data, result or progress, which may be large or private. */
const BRIEF_COLUMNS = "id, name, state, attempts_made, attempts, failed_reason, run_at, finished_at";

/** A row of {@link BRIEF_COLUMNS}. */
export type JobBriefRow = Pick<JobRow, "id" | "name" | "state" | "attempts_made" | "attempts" | "failed_reason" | "run_at" | "finished_at">;

/** The `limit` failed jobs that finished last, newest first. */
export function lastFailed(sql: Sql, limit: number): JobBriefRow[] {
  return sql
    .exec<JobBriefRow>(`SELECT ${BRIEF_COLUMNS} FROM jobs WHERE state = 'failed' ORDER BY finished_at DESC, seq DESC LIMIT ?`, limit)
    .toArray();
}

/** The next `limit` unfinished jobs: running ones first, then waiting ones in the order they start, then delayed ones by due time. */
export function nextUnfinished(sql: Sql, limit: number): JobBriefRow[] {
  const queries = [
    `SELECT ${BRIEF_COLUMNS} FROM jobs WHERE state = 'active' ORDER BY started_at, seq LIMIT ?`,
    `SELECT ${BRIEF_COLUMNS} FROM jobs WHERE state = 'waiting' ORDER BY priority, run_at, seq LIMIT ?`,
    `SELECT ${BRIEF_COLUMNS} FROM jobs WHERE state = 'delayed' ORDER BY run_at, seq LIMIT ?`,
  ];
  const rows: JobBriefRow[] = [];
  for (const query of queries) {
    if (rows.length >= limit) break;
    rows.push(...sql.exec<JobBriefRow>(query, limit - rows.length).toArray());
  }
  return rows;
}

/** Jobs of a state, oldest added first, after insertion number `afterSeq`. */
export function listJobs(sql: Sql, state: JobState, limit: number, afterSeq: number): JobRow[] {
  return sql.exec<JobRow>("SELECT * FROM jobs WHERE state = ? AND seq > ? ORDER BY seq LIMIT ?", state, afterSeq, limit).toArray();
}

/** Active jobs whose lease ran out by `now`: their attempt is lost (the object restarted while they ran). */
export function expiredLeases(sql: Sql, now: number): JobRow[] {
  return sql.exec<JobRow>("SELECT * FROM jobs WHERE state = 'active' AND lease_until <= ?", now).toArray();
}

/** The oldest waiting job's due time, for the queue's age gauge. */
export function oldestWaitingAt(sql: Sql): number | null {
  return sql.exec<{ at: number | null }>("SELECT min(run_at) AS at FROM jobs WHERE state = 'waiting'").one().at;
}

/** Marks a job active for one more attempt, leased until `leaseUntil`. */
export function markActive(sql: Sql, id: string, now: number, leaseUntil: number): void {
  sql.exec(
    "UPDATE jobs SET state = 'active', attempts_made = attempts_made + 1, started_at = ?, lease_until = ?, progress = NULL WHERE id = ?",
    now,
    leaseUntil,
    id,
  );
}

/** Finishes a job: completed with its result, failed with its reason, or cancelled. */
export function finish(
  sql: Sql,
  id: string,
  state: "completed" | "failed" | "cancelled",
  now: number,
  detail: { result?: string; reason?: string },
): void {
  sql.exec(
    "UPDATE jobs SET state = ?, finished_at = ?, lease_until = NULL, result = ?, failed_reason = ? WHERE id = ?",
    state,
    now,
    detail.result ?? null,
    detail.reason ?? null,
    id,
  );
}

/** Puts a job back to wait until `runAt`; `refund` gives back the attempt it had started (a throttled one). */
export function requeue(sql: Sql, id: string, runAt: number, now: number, reason: string | null, refund: boolean): void {
  sql.exec(
    `UPDATE jobs SET state = ?, run_at = ?, lease_until = NULL, failed_reason = ?,
     attempts_made = attempts_made - ? WHERE id = ?`,
    runAt > now ? "delayed" : "waiting",
    runAt,
    reason,
    refund ? 1 : 0,
    id,
  );
}

/** Stores a running attempt's progress; false when the job is no longer in that attempt. */
export function setProgress(sql: Sql, id: string, attempt: number, progress: unknown): boolean {
  const cursor = sql.exec(
    "UPDATE jobs SET progress = ? WHERE id = ? AND state = 'active' AND attempts_made = ?",
    JSON.stringify(progress ?? null),
    id,
    attempt,
  );
  return cursor.rowsWritten > 0;
}

/** Removes finished jobs of `state` beyond `keep` (by count, newest kept, and by age); answers how many went. */
export function prune(sql: Sql, state: "completed" | "failed" | "cancelled", keep: Keep, now: number): number {
  let removed = 0;
  if (keep.ageSeconds !== undefined) {
    removed += sql.exec("DELETE FROM jobs WHERE state = ? AND finished_at < ?", state, now - keep.ageSeconds * 1000).rowsWritten;
  }
  if (keep.count !== undefined) {
    removed += sql.exec(
      "DELETE FROM jobs WHERE state = ? AND id IN (SELECT id FROM jobs WHERE state = ? ORDER BY finished_at DESC LIMIT -1 OFFSET ?)",
      state,
      state,
      keep.count,
    ).rowsWritten;
  }
  return removed;
}

/** A row of `schedules`. */
export interface ScheduleRow {
  id: string;
  repeat: Repeat;
  job: ScheduleInput["job"];
  nextRunAt: number | null;
  createdAt: number;
}

/** Every schedule, by id. */
export function listSchedules(sql: Sql): ScheduleRow[] {
  return sql
    .exec<{ id: string; repeat: string; job: string; next_run_at: number | null; created_at: number }>(
      "SELECT * FROM schedules ORDER BY id",
    )
    .toArray()
    .map((r) => ({
      id: r.id,
      repeat: JSON.parse(r.repeat) as Repeat,
      job: JSON.parse(r.job) as ScheduleInput["job"],
      nextRunAt: r.next_run_at,
      createdAt: r.created_at,
    }));
}

/** Creates or replaces a schedule. */
export function upsertSchedule(sql: Sql, row: ScheduleRow): void {
  sql.exec(
    `INSERT INTO schedules (id, repeat, job, next_run_at, created_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT(id) DO UPDATE SET repeat = excluded.repeat, job = excluded.job, next_run_at = excluded.next_run_at`,
    row.id,
    JSON.stringify(row.repeat),
    JSON.stringify(row.job),
    row.nextRunAt,
    row.createdAt,
  );
}

/** Moves a schedule's next run. */
export function setNextRun(sql: Sql, id: string, nextRunAt: number | null): void {
  sql.exec("UPDATE schedules SET next_run_at = ? WHERE id = ?", nextRunAt, id);
}

/** Deletes a schedule; false when there was none. */
export function deleteSchedule(sql: Sql, id: string): boolean {
  return sql.exec("DELETE FROM schedules WHERE id = ?", id).rowsWritten > 0;
}

/** The starts the rate limit still counts. */
export function readStarts(sql: Sql): Start[] {
  return sql.exec<{ at: number; cost: number }>("SELECT at, cost FROM starts").toArray();
}

/** Records a start and forgets those older than `before`. */
export function recordStart(sql: Sql, start: Start, before: number): void {
  sql.exec("INSERT INTO starts (at, cost) VALUES (?, ?)", start.at, start.cost);
  sql.exec("DELETE FROM starts WHERE at <= ?", before);
}

const parse = (text: string | null): unknown => (text === null ? null : (JSON.parse(text) as unknown));
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** A row as the API shows it. */
export function jobView(queue: string, row: JobRow): JobView {
  return {
    id: row.id,
    queue,
    name: row.name,
    data: parse(row.data),
    state: row.state,
    priority: row.priority,
    cost: row.cost,
    progress: parse(row.progress),
    result: parse(row.result),
    attemptsMade: row.attempts_made,
    attempts: row.attempts,
    failedReason: row.failed_reason,
    createdAt: new Date(row.created_at).toISOString(),
    runAt: new Date(row.run_at).toISOString(),
    startedAt: iso(row.started_at),
    finishedAt: iso(row.finished_at),
    schedule: row.schedule,
  };
}

/** A row as a list of jobs shows it (see {@link JobBrief}). */
export function jobBrief(row: JobBriefRow): JobBrief {
  return {
    id: row.id,
    name: row.name,
    state: row.state,
    attemptsMade: row.attempts_made,
    attempts: row.attempts,
    failedReason: row.failed_reason,
    runAt: new Date(row.run_at).toISOString(),
    finishedAt: iso(row.finished_at),
  };
}
