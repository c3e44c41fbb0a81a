import { DurableObject } from "cloudflare:workers";
import { flushMetricsIfDue, workerMetrics, type MetricsEnv } from "@foundation/core";
import { jobMetrics } from "./metrics.ts";
import { nextRunAt } from "./plan.ts";
import type { PushEnv } from "./push.ts";
import { JobRunner } from "./runner.ts";
import {
  MAX_OPEN_JOBS,
  type JobBrief,
  type JobInput,
  type JobState,
  type JobView,
  type QueueSettings,
  type ScheduleInput,
} from "./schema.ts";
import * as store from "./store.ts";
import { SqlMeter, type SqlUsage } from "./usage.ts";

/** The bindings of the worker that runs the queues (the gateway). */
export interface JobQueueEnv extends PushEnv, MetricsEnv {
  ENVIRONMENT?: string;
}

/** What adding jobs answers. */
export type AddOutcome =
  | { ok: true; jobs: Array<{ id: string; duplicate: boolean }> }
  | { ok: false; error: "unconfigured" }
  | { ok: false; error: "full"; limit: number };

/** A queue as the API shows it. */
export interface QueueSummary {
  name: string;
  settings: Omit<QueueSettings, "secret" | "progressOrigin" | "name">;
  paused: boolean;
  counts: Record<JobState, number>;
  schedules: number;
  /** Jobs that completed, and that failed for good, in the last minute (among the finished jobs the queue keeps). */
  lastMinute: { completed: number; failed: number };
}

/** A queue's latest jobs, without data, result or progress: the last failed ones and the next unfinished ones. */
export interface LatestJobs {
  /** Failed jobs, the last to fail first. */
  failed: JobBrief[];
  /** Running jobs, then waiting ones in the order they start, then delayed ones by due time. */
  unfinished: JobBrief[];
}

/** A schedule as the API shows it. */
export interface ScheduleView {
  id: string;
  repeat: ScheduleInput["repeat"];
  job: ScheduleInput["job"];
  nextRunAt: string | null;
}

/** What cancelling or retrying a job answers. */
export type JobChange = { ok: true; job: JobView } | { ok: false; error: "unknown" } | { ok: false; error: "state"; state: JobState };

/** Most jobs of each kind {@link JobQueue.latestJobs} answers. */
const MAX_LATEST_JOBS = 100;

/** What a queue object has cost since it started: its SQL work, the alarms it ran, and the alarm it has set. */
export interface QueueUsage extends SqlUsage {
  /** When this instance of the object started (ms since the epoch); counts restart with it. */
  since: number;
  alarms: number;
  /** The alarm set (ms since the epoch), or null: an idle queue has none. */
  alarmAt: number | null;
}

/** Longest one alarm runs the queue before handing over to the next (attempts in flight carry on meanwhile). */
const PUMP_BUDGET_MS = 25_000;

/**
 * One job queue: its settings, jobs and schedules in SQLite, and its runner driven by alarms. While work is due the
 * alarm loops: it starts what the concurrency and rate limit allow, waits for an attempt to settle, a new job or the
 * next due time, and goes on; when nothing is due it sets the alarm for the next due job or schedule and stops, so
 * an idle queue costs nothing. Every change to a job is one SQLite transaction; an attempt a restart interrupts is
 * recovered when its lease runs out.
 */
export class JobQueue extends DurableObject<JobQueueEnv> {
  private readonly meter = new SqlMeter(this.ctx.storage.sql);
  private readonly sql = this.meter.sql;
  private readonly since = Date.now();
  private alarms = 0;
  private seq: number;
  private config: QueueSettings | null;
  private isPaused: boolean;
  private readonly runner: JobRunner;
  private pumping: Promise<void> | null = null;
  private wake: (() => void) | null = null;

  constructor(ctx: DurableObjectState, env: JobQueueEnv) {
    super(ctx, env);
    this.seq = store.migrate(this.sql);
    this.config = store.readMeta<QueueSettings>(this.sql, "settings") ?? null;
    this.isPaused = store.readMeta<boolean>(this.sql, "paused") ?? false;
    this.runner = new JobRunner(
      {
        sql: this.sql,
        env,
        settings: () => this.config,
        paused: () => this.isPaused,
        nextSeq: () => ++this.seq,
        transaction: (writes) => this.ctx.storage.transactionSync(writes),
      },
      () => this.wake?.(),
    );
  }

  /** Creates or changes the queue; jobs already added keep their own options. */
  async configure(settings: QueueSettings): Promise<void> {
    store.writeMeta(this.sql, "settings", settings);
    this.config = settings;
    await this.kick();
  }

  /** The queue's settings, or null for a queue never configured. */
  settings(): QueueSettings | null {
    return this.config;
  }

  /**
   * Adds jobs, all in one transaction: each waits or is delayed by its `delayMs` or `runAt`; a job whose `jobId` the
   * queue holds is not added again and answers that job's id. Refused for a queue never configured, and past
   * {@link MAX_OPEN_JOBS} unfinished jobs.
   */
  async add(inputs: readonly JobInput[], now = Date.now()): Promise<AddOutcome> {
    const settings = this.config;
    if (!settings) return { ok: false, error: "unconfigured" };
    const counts = store.countStates(this.sql);
    if (counts.waiting + counts.delayed + counts.active + inputs.length > MAX_OPEN_JOBS)
      return { ok: false, error: "full", limit: MAX_OPEN_JOBS };
    const jobs: Array<{ id: string; duplicate: boolean }> = [];
    this.ctx.storage.transactionSync(() => {
      for (const input of inputs) {
        const id = input.jobId ?? crypto.randomUUID();
        const runAt = input.runAt ? Date.parse(input.runAt) : now + (input.delayMs ?? 0);
        const added = store.insertJob(
          this.sql,
          {
            id,
            name: input.name,
            data: input.data,
            priority: input.priority,
            runAt,
            cost: input.cost,
            attempts: input.attempts ?? settings.defaults.attempts,
            backoff: input.backoff ?? settings.defaults.backoff,
            timeoutMs: input.timeoutMs ?? settings.defaults.timeoutMs,
            createdAt: now,
          },
          ++this.seq,
          now,
        );
        jobs.push({ id, duplicate: !added });
      }
    });
    const fresh = jobs.filter((j) => !j.duplicate).length;
    if (fresh > 0) jobMetrics.added.inc({ queue: settings.name }, fresh);
    await this.kick();
    return { ok: true, jobs };
  }

  /** One job, or null. */
  job(id: string): JobView | null {
    const row = store.findJob(this.sql, id);
    return row && this.config ? store.jobView(this.config.name, row) : null;
  }

  /** Jobs in a state, oldest added first, and the cursor of the next page (null at the end). */
  jobs(state: JobState, limit: number, after = 0): { jobs: JobView[]; next: number | null } {
    const rows = store.listJobs(this.sql, state, limit, after);
    const name = this.config?.name ?? "";
    return { jobs: rows.map((r) => store.jobView(name, r)), next: rows.length === limit ? (rows.at(-1)?.seq ?? null) : null };
  }

  /**
   * The queue's settings (without secrets), whether it is paused, its jobs by state, its schedule count, and the jobs
   * that finished in the minute before `now`.
   */
  summary(now = Date.now()): QueueSummary | null {
    const config = this.config;
    if (!config) return null;
    const { secret: _secret, progressOrigin: _origin, name, ...settings } = config;
    return {
      name,
      settings,
      paused: this.isPaused,
      counts: store.countStates(this.sql),
      schedules: store.listSchedules(this.sql).length,
      lastMinute: store.finishedSince(this.sql, now - 60_000),
    };
  }

  /** The last `limit` failed jobs and the next `limit` unfinished ones (at most 100 each), without data, result or progress. */
  latestJobs(limit: number): LatestJobs {
    const n = Math.max(0, Math.min(MAX_LATEST_JOBS, Math.floor(limit)));
    return { failed: store.lastFailed(this.sql, n).map(store.jobBrief), unfinished: store.nextUnfinished(this.sql, n).map(store.jobBrief) };
  }

  /** Cancels a job that has not finished: a waiting or delayed one never starts; a running attempt's answer is ignored. */
  cancel(id: string, now = Date.now()): JobChange {
    const row = store.findJob(this.sql, id);
    if (!row) return { ok: false, error: "unknown" };
    if (row.state === "completed" || row.state === "failed" || row.state === "cancelled")
      return { ok: false, error: "state", state: row.state };
    store.finish(this.sql, id, "cancelled", now, { reason: "cancelled" });
    return { ok: true, job: this.job(id) as JobView };
  }

  /** Runs a failed or cancelled job again, with its attempts counted afresh. */
  async retry(id: string, now = Date.now()): Promise<JobChange> {
    const row = store.findJob(this.sql, id);
    if (!row) return { ok: false, error: "unknown" };
    if (row.state !== "failed" && row.state !== "cancelled") return { ok: false, error: "state", state: row.state };
    this.sql.exec(
      "UPDATE jobs SET state = 'waiting', run_at = ?, attempts_made = 0, finished_at = NULL, failed_reason = NULL, result = NULL, progress = NULL WHERE id = ?",
      now,
      id,
    );
    await this.kick();
    return { ok: true, job: this.job(id) as JobView };
  }

  /** Pauses the queue (no job starts; running attempts finish) or resumes it. */
  async setPaused(paused: boolean): Promise<void> {
    store.writeMeta(this.sql, "paused", paused);
    this.isPaused = paused;
    if (!paused) await this.kick();
  }

  /** Creates or replaces a schedule; its first run is the next match after `now`. */
  async putSchedule(id: string, input: ScheduleInput, now = Date.now()): Promise<ScheduleView> {
    const existing = store.listSchedules(this.sql).find((s) => s.id === id);
    const row = {
      id,
      repeat: input.repeat,
      job: input.job,
      nextRunAt: nextRunAt(input.repeat, now),
      createdAt: existing?.createdAt ?? now,
    };
    store.upsertSchedule(this.sql, row);
    await this.kick();
    return scheduleView(row);
  }

  /** Deletes a schedule (the jobs it added stay); false when there was none. */
  removeSchedule(id: string): boolean {
    return store.deleteSchedule(this.sql, id);
  }

  /** Every schedule. */
  schedules(): ScheduleView[] {
    return store.listSchedules(this.sql).map(scheduleView);
  }

  /** Records a running attempt's progress; false when the job is no longer in that attempt. */
  progress(id: string, attempt: number, value: unknown): boolean {
    return store.setProgress(this.sql, id, attempt, value);
  }

  /** Deletes the queue: settings, jobs, schedules; attempts in flight finish unrecorded. */
  async destroy(): Promise<void> {
    this.config = null;
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.seq = store.migrate(this.sql);
  }

  /** What the object has cost since it started (see {@link QueueUsage}); reading it costs no SQL. */
  async usage(): Promise<QueueUsage> {
    return { ...this.meter.usage(), since: this.since, alarms: this.alarms, alarmAt: await this.ctx.storage.getAlarm() };
  }

  /** Runs the queue (see the class comment). */
  override async alarm(): Promise<void> {
    this.alarms++;
    await this.pump();
  }

  /** Makes the runner look at the queue now: wakes a running pump, or sets the alarm. */
  private async kick(): Promise<void> {
    if (this.pumping) {
      this.wake?.();
      return;
    }
    const at = await this.ctx.storage.getAlarm();
    if (at === null || at > Date.now()) await this.ctx.storage.setAlarm(Date.now());
  }

  private pump(): Promise<void> {
    this.pumping ??= this.loop().finally(() => {
      this.pumping = null;
    });
    return this.pumping;
  }

  /**
   * Steps the runner until nothing is due and nothing is in flight, or the budget is spent; then sets the alarm for
   * what comes next (now, when attempts are still in flight).
   */
  private async loop(): Promise<void> {
    const started = Date.now();
    let wait = Infinity;
    try {
      for (;;) {
        const now = Date.now();
        const inBudget = now - started < PUMP_BUDGET_MS;
        wait = this.runner.step(now, inBudget);
        // With nothing in flight, waiting is the alarm's job: an object restarted meanwhile (a deploy, an eviction)
        // then finds its alarm set, rather than an unfinished one the runtime retries only after seconds.
        if (!inBudget || (this.runner.inflight.size === 0 && wait > 0)) break;
        const woken = new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        const timers: Promise<unknown>[] = [woken, ...this.runner.inflight.values()];
        // Cleared after the race: a Durable Object may hold only 10,000 active timers, and this loop turns once per
        // settled attempt, each time with a wait as long as an attempt's lease.
        let timer: ReturnType<typeof setTimeout> | undefined;
        if (Number.isFinite(wait)) timers.push(new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(1, wait)))));
        await Promise.race(timers);
        clearTimeout(timer);
        this.wake = null;
      }
    } finally {
      this.wake = null;
      const next = this.runner.inflight.size > 0 ? 0 : wait;
      if (Number.isFinite(next)) await this.ctx.storage.setAlarm(Date.now() + next);
      await flushMetricsIfDue(workerMetrics, this.env, "gateway");
    }
  }
}

function scheduleView(row: store.ScheduleRow): ScheduleView {
  return { id: row.id, repeat: row.repeat, job: row.job, nextRunAt: row.nextRunAt === null ? null : new Date(row.nextRunAt).toISOString() };
}
