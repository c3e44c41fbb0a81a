/**
 * The job worker of bench/jobs.bench.ts: a service on the kit (wired in job-sink-entry.js) whose handler runs every
 * job of the `bench.jobs.*` queues and does nothing but note it, in memory, in the isolate the kit runs in: a count
 * and, for a delayed job, how late it started. Nothing leaves the isolate per job, so recording adds nothing to what
 * is measured: the queue object, the push and the kit's job endpoint. `GET /count` answers the count (cheap to poll),
 * `GET /stats` the count with the firing errors, `POST /reset` clears them.
 */

/** Queues the sink runs: `bench.jobs.<anything>`. */
export const JOB_SINK_PREFIX = "bench.jobs.";

/** What `GET /stats` answers; `GET /count` answers it without `errors`. */
export interface JobSinkStats {
  /** Job attempts started. */
  count: number;
  /** When the first and the last attempt started (ms since the epoch). */
  firstAt: number | null;
  lastAt: number | null;
  /** For each delayed job (its data holds `delayMs`): started − due, in ms, in the order they started. */
  errors: number[];
}

/** The part of a job attempt the recorder reads. */
export interface StartedJob {
  createdAt: string;
  data: unknown;
}

/** Start count and firing errors of the jobs the sink ran. */
export class JobStartRecorder {
  private count = 0;
  private firstAt: number | null = null;
  private lastAt: number | null = null;
  private errors: number[] = [];

  /**
   * Notes one attempt that started at `nowMs`. A delayed job carries its `delayMs` in its data: it was due at
   * `createdAt + delayMs`, the time the queue computed when it was added.
   */
  record(job: StartedJob, nowMs: number): void {
    this.count++;
    this.firstAt ??= nowMs;
    this.lastAt = nowMs;
    const delayMs = (job.data as { delayMs?: unknown } | null)?.delayMs;
    if (typeof delayMs === "number") this.errors.push(nowMs - (Date.parse(job.createdAt) + delayMs));
  }

  /** The count and start times only. */
  progress(): Omit<JobSinkStats, "errors"> {
    return { count: this.count, firstAt: this.firstAt, lastAt: this.lastAt };
  }

  /** Everything recorded. */
  snapshot(): JobSinkStats {
    return { ...this.progress(), errors: [...this.errors] };
  }

  /** Forgets everything recorded. */
  reset(): void {
    this.count = 0;
    this.firstAt = null;
    this.lastAt = null;
    this.errors = [];
  }
}
