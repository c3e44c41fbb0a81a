import { createLogger, errorFields } from "@foundation/core";
import { jobMetrics } from "./metrics.ts";
import { backoffDelayMs, liveStarts, nextRunAt, rateWaitMs, scheduledJobId, type Start } from "./plan.ts";
import { progressUrl, pushJob, type PushEnv } from "./push.ts";
import { MAX_JOB_DATA_BYTES, type Backoff, type QueueSettings } from "./schema.ts";
import * as store from "./store.ts";
import type { JobOutcome, JobRequest } from "./worker.ts";

const log = createLogger({ component: "job-queue" });

/** How long past an attempt's timeout its lease lasts: after that, an attempt the object lost (a restart) counts as failed. */
export const LEASE_GRACE_MS = 5000;
/** How often, at most, finished jobs are pruned and the depth gauges refreshed. */
const HOUSEKEEPING_MS = 1000;
const encoder = new TextEncoder();

/** What the runner needs from its queue object: storage, the clock, and the queue's current settings. */
export interface RunnerHost {
  sql: store.Sql;
  env: PushEnv;
  settings(): QueueSettings | null;
  paused(): boolean;
  /** Next insertion number. */
  nextSeq(): number;
  /** Runs `writes` in one storage transaction. */
  transaction(writes: () => void): void;
}

/**
 * Starts a queue's due jobs within its concurrency and rate limit, pushes each attempt to the queue's target and
 * records what came back; fires schedules; recovers attempts a restart lost once their lease runs out. One
 * `step` does what is due now and answers how long until something may be due again; the queue object loops on it.
 */
export class JobRunner {
  /** Attempts in flight in this object: job id → the attempt's promise. */
  readonly inflight = new Map<string, Promise<void>>();
  private starts: Start[];
  private housekeptAt = 0;

  constructor(
    private readonly host: RunnerHost,
    private readonly onSettled: () => void,
  ) {
    this.starts = store.readStarts(host.sql);
  }

  /** Does what is due at `now`; answers the ms until the next thing may be due (Infinity: nothing is). */
  step(now: number, startJobs: boolean): number {
    const settings = this.host.settings();
    if (!settings) return Infinity;
    const { sql } = this.host;
    const scheduleWait = this.fireSchedules(settings, now);
    store.promoteDue(sql, now);
    for (const lost of store.expiredLeases(sql, now)) {
      if (!this.inflight.has(lost.id))
        this.attemptFailed(settings, lost, lost.attempts_made, "lost: the queue restarted while the attempt ran", now);
    }
    if (now - this.housekeptAt >= HOUSEKEEPING_MS) this.housekeep(settings, now);
    let wait = Math.min(scheduleWait, this.dueWait(now));
    if (!startJobs || this.host.paused()) return wait;
    this.starts = liveStarts(this.starts, now, settings.rateLimit);
    while (this.inflight.size < settings.concurrency) {
      const batch = store.nextWaiting(sql, Math.min(settings.concurrency - this.inflight.size, 100));
      if (batch.length === 0) break;
      for (const job of batch) {
        const rateWait = settings.rateLimit ? rateWaitMs(this.starts, now, settings.rateLimit, job.cost) : 0;
        if (rateWait > 0) return Math.min(wait, rateWait);
        this.start(settings, job, now);
      }
    }
    wait = Math.min(wait, this.dueWait(now));
    return wait;
  }

  /** The ms until a delayed job is due or an active job's lease runs out. */
  private dueWait(now: number): number {
    const at = store.nextDueAt(this.host.sql);
    return at === null ? Infinity : Math.max(0, at - now);
  }

  /** Adds the job of every schedule whose time has come (one per run, whatever the restarts); answers the ms to the next. */
  private fireSchedules(settings: QueueSettings, now: number): number {
    let wait = Infinity;
    for (const s of store.listSchedules(this.host.sql)) {
      if (s.nextRunAt === null) continue;
      if (s.nextRunAt > now) {
        wait = Math.min(wait, s.nextRunAt - now);
        continue;
      }
      const runAt = s.nextRunAt;
      const next = nextRunAt(s.repeat, Math.max(now, runAt));
      this.host.transaction(() => {
        const added = store.insertJob(
          this.host.sql,
          {
            id: scheduledJobId(s.id, runAt),
            name: s.job.name,
            data: s.job.data,
            priority: s.job.priority,
            runAt,
            cost: s.job.cost,
            attempts: s.job.attempts ?? settings.defaults.attempts,
            backoff: s.job.backoff ?? settings.defaults.backoff,
            timeoutMs: s.job.timeoutMs ?? settings.defaults.timeoutMs,
            createdAt: now,
            schedule: s.id,
          },
          this.host.nextSeq(),
          now,
        );
        if (added) jobMetrics.added.inc({ queue: settings.name });
        store.setNextRun(this.host.sql, s.id, next);
      });
      if (next !== null) wait = Math.min(wait, next - now);
    }
    return wait;
  }

  /** Starts one attempt: marks the job active and leased, counts it against the rate limit, and pushes it. */
  private start(settings: QueueSettings, job: store.JobRow, now: number): void {
    const attempt = job.attempts_made + 1;
    const start = { at: now, cost: job.cost };
    this.host.transaction(() => {
      store.markActive(this.host.sql, job.id, now, now + job.timeout_ms + LEASE_GRACE_MS);
      if (settings.rateLimit) store.recordStart(this.host.sql, start, now - settings.rateLimit.durationMs);
    });
    this.starts.push(start);
    const labels = { queue: settings.name };
    jobMetrics.started.inc(labels);
    jobMetrics.wait.observe(labels, Math.max(0, now - job.run_at) / 1000);
    const run = this.push(settings, job, attempt)
      .then((outcome) => this.settle(settings, job, attempt, outcome, now))
      .catch((err: unknown) => log.error("job attempt not recorded", { queue: settings.name, job: job.id, ...errorFields(err) }))
      .finally(() => {
        this.inflight.delete(job.id);
        this.onSettled();
      });
    this.inflight.set(job.id, run);
  }

  private async push(settings: QueueSettings, job: store.JobRow, attempt: number): Promise<JobOutcome> {
    const request: JobRequest = {
      queue: settings.name,
      id: job.id,
      name: job.name,
      data: JSON.parse(job.data) as unknown,
      attempt,
      attempts: job.attempts,
      createdAt: new Date(job.created_at).toISOString(),
      progressUrl: await progressUrl(this.host.env.EVENT_SIGNING_SECRET, settings, job.id, attempt),
    };
    return pushJob(this.host.env, settings, request, job.timeout_ms);
  }

  /** Records what an attempt's answer means, unless the job left that attempt meanwhile (cancelled, say). */
  private settle(settings: QueueSettings, job: store.JobRow, attempt: number, outcome: JobOutcome, startedAt: number): void {
    const now = Date.now();
    const current = store.findJob(this.host.sql, job.id);
    if (current?.state !== "active" || current.attempts_made !== attempt) return;
    const labels = { queue: settings.name };
    const seconds = (now - startedAt) / 1000;
    if (outcome.kind === "completed") {
      let result = JSON.stringify(outcome.result ?? null);
      if (encoder.encode(result).length > MAX_JOB_DATA_BYTES) {
        log.warn("job result too large to keep", { queue: settings.name, job: job.id, bytes: result.length });
        result = "null";
      }
      store.finish(this.host.sql, job.id, "completed", now, { result });
      jobMetrics.completed.inc(labels);
      jobMetrics.run.observe({ ...labels, outcome: "completed" }, seconds);
      return;
    }
    jobMetrics.run.observe({ ...labels, outcome: outcome.kind }, seconds);
    if (outcome.kind === "throttled") {
      store.requeue(this.host.sql, job.id, now + outcome.retryAfterMs, now, "throttled by the worker", true);
      jobMetrics.throttled.inc(labels);
      return;
    }
    this.attemptFailed(settings, current, attempt, outcome.reason, now);
  }

  /** A failed attempt: the job waits its backoff and runs again, or has used its attempts and fails. */
  private attemptFailed(settings: QueueSettings, job: store.JobRow, attempt: number, reason: string, now: number): void {
    const final = attempt >= job.attempts;
    if (final) store.finish(this.host.sql, job.id, "failed", now, { reason });
    else store.requeue(this.host.sql, job.id, now + backoffDelayMs(JSON.parse(job.backoff) as Backoff, attempt), now, reason, false);
    jobMetrics.failed.inc({ queue: settings.name, final: String(final) });
    log[final ? "warn" : "info"]("job attempt failed", { queue: settings.name, job: job.id, attempt, attempts: job.attempts, reason });
  }

  /** Prunes finished jobs past the queue's retention and refreshes the depth gauges. */
  private housekeep(settings: QueueSettings, now: number): void {
    this.housekeptAt = now;
    const { sql } = this.host;
    store.prune(sql, "completed", settings.defaults.removeOnComplete, now);
    store.prune(sql, "failed", settings.defaults.removeOnFail, now);
    store.prune(sql, "cancelled", settings.defaults.removeOnFail, now);
    for (const [state, n] of Object.entries(store.countStates(sql))) jobMetrics.depth.set({ queue: settings.name, state }, n);
    const oldest = store.oldestWaitingAt(sql);
    jobMetrics.oldestWaiting.set({ queue: settings.name }, oldest === null ? 0 : Math.max(0, now - oldest) / 1000);
  }
}
