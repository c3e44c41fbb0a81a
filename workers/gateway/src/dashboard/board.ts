import { HttpProblem } from "@foundation/core";
import type { JobBrief, JobState, QueueSummary } from "@foundation/jobs";
import { ADMIN_SCOPE, type AuthContext } from "@foundation/service-kit";

/**
 * One queue on the public dashboard: whether it is paused, its jobs by state and what finished in the last minute.
 * No target, settings or job: a target URL names a host and a job's id, name, data, result and failure reason are
 * its publisher's and its worker's, so they show to admins only ({@link DashboardQueueJobs}). The numbers are null
 * when the queue's object did not answer.
 */
export interface DashboardQueue {
  name: string;
  paused: boolean | null;
  counts: Record<JobState, number> | null;
  lastMinute: { completed: number; failed: number } | null;
}

/** One job on the admin side of the board: no data, result or progress, the failure reason cut to {@link MAX_REASON_CHARS}. */
export type DashboardJob = JobBrief;

/** A queue's latest jobs on the admin side of the board; null when the queue's object did not answer. */
export interface DashboardQueueJobs {
  name: string;
  /** Failed jobs, the last to fail first: each can be retried. */
  failed: DashboardJob[] | null;
  /** Running, then waiting, then delayed jobs: each can be cancelled. */
  unfinished: DashboardJob[] | null;
}

/** What `GET /dashboard/jobs` answers an admin, as of `generatedAt` (epoch ms); `queues` is null when the queue list did not answer. */
export interface DashboardJobs {
  generatedAt: number;
  queues: DashboardQueueJobs[] | null;
}

/** Longest failure reason the board shows; a worker's message can be long, and the page lists many. */
export const MAX_REASON_CHARS = 1000;

/**
 * A queue summary as the public dashboard shows it: the fields named here and nothing else, so a field the summary
 * gains later (settings, targets) stays private until added on purpose.
 * @example publicQueue(await queueStub(env, "reports").summary())
 */
export function publicQueue(summary: QueueSummary): DashboardQueue {
  const { completed, failed } = summary.lastMinute;
  return { name: summary.name, paused: summary.paused, counts: { ...summary.counts }, lastMinute: { completed, failed } };
}

/** A queue whose object did not answer: its name, with every number unknown. */
export function unreadQueue(name: string): DashboardQueue {
  return { name, paused: null, counts: null, lastMinute: null };
}

/**
 * A job as the admin side of the board shows it: the fields of {@link JobBrief} and nothing else (never data or
 * result), its failure reason cut to {@link MAX_REASON_CHARS}.
 */
export function boardJob(job: JobBrief): DashboardJob {
  const reason = job.failedReason;
  return {
    id: job.id,
    name: job.name,
    state: job.state,
    attemptsMade: job.attemptsMade,
    attempts: job.attempts,
    failedReason: reason !== null && reason.length > MAX_REASON_CHARS ? `${reason.slice(0, MAX_REASON_CHARS)}…` : reason,
    runAt: job.runAt,
    finishedAt: job.finishedAt,
  };
}

/**
 * Refuses a caller who may not see the board's jobs: the `admin` scope is needed (403 `insufficient-scope`), with a
 * token for Foundation itself, not one restricted to other services (403 `wrong-audience`), as on `/api/foundation`.
 */
export function checkBoardAccess(auth: AuthContext): void {
  if (!auth.scopes.has(ADMIN_SCOPE)) {
    throw new HttpProblem(403, { slug: "insufficient-scope", detail: "The job board's jobs need the admin scope." });
  }
  if (auth.services && !auth.services.has("foundation")) {
    throw new HttpProblem(403, { slug: "wrong-audience", detail: 'This token is not for the service "foundation".' });
  }
}
