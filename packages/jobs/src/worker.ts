/**
 * `@foundation/jobs/worker`: the contract between a queue and whatever runs its jobs, without the queue object.
 * A queue POSTs each attempt of a job as JSON ({@link JobRequest}), signed with Standard Webhooks headers; any 2xx
 * answer completes the job with the JSON body as its result, `429` (or `503` with `Retry-After`) puts it back without
 * spending an attempt, and anything else fails the attempt.
 */
import { retryAfterMs } from "@foundation/core";
import { z } from "zod";

/** Where a service on the kit receives its jobs. */
export const JOB_PATH = "/_foundation/jobs";

/** The wait after a 429 without `Retry-After`. */
export const DEFAULT_THROTTLE_MS = 1000;

/** Most bytes of an answer's body kept as a failed attempt's reason. */
const REASON_BYTES = 500;

/** What a worker receives for one attempt of a job. */
export const JobRequest = z.object({
  queue: z.string(),
  id: z.string(),
  name: z.string(),
  data: z.unknown(),
  /** This attempt, from 1. */
  attempt: z.number().int().min(1),
  /** Attempts the job may take in all. */
  attempts: z.number().int().min(1),
  createdAt: z.string(),
  /** POST `{"progress": <any JSON>}` here to report progress (the URL carries its own credential). */
  progressUrl: z.string().nullable(),
});
/** What a worker receives for one attempt of a job. */
export type JobRequest = z.infer<typeof JobRequest>;

/** What one attempt's answer means. */
export type JobOutcome =
  | { kind: "completed"; result: unknown }
  /** The worker (or its upstream) asks to slow down: the job waits and the attempt does not count. */
  | { kind: "throttled"; retryAfterMs: number }
  | { kind: "failed"; reason: string };

/**
 * Reads a worker's answer to one attempt: 2xx completes the job with the JSON body (null for none, or the text when
 * it is not JSON), `429` and `503` with `Retry-After` throttle, anything else fails the attempt with the status and
 * the start of the body (a problem+json `detail` when there is one) as its reason.
 * @example readJobAnswer(200, null, '{"ok":true}', Date.now()) // { kind: "completed", result: { ok: true } }
 */
export function readJobAnswer(status: number, retryAfter: string | null, text: string, nowMs: number): JobOutcome {
  if (status >= 200 && status < 300) {
    if (text.trim() === "") return { kind: "completed", result: null };
    try {
      return { kind: "completed", result: JSON.parse(text) as unknown };
    } catch {
      return { kind: "completed", result: text };
    }
  }
  const wait = retryAfterMs(retryAfter, nowMs);
  if (status === 429) return { kind: "throttled", retryAfterMs: wait ?? DEFAULT_THROTTLE_MS };
  if (status === 503 && wait !== undefined) return { kind: "throttled", retryAfterMs: wait };
  return { kind: "failed", reason: `HTTP ${status}${reasonText(text)}` };
}

function reasonText(text: string): string {
  if (text.trim() === "") return "";
  try {
    const problem = JSON.parse(text) as { detail?: unknown; title?: unknown };
    const said = typeof problem.detail === "string" ? problem.detail : typeof problem.title === "string" ? problem.title : undefined;
    if (said) return `: ${said.slice(0, REASON_BYTES)}`;
  } catch {
    // Not JSON: the text itself.
  }
  return `: ${text.slice(0, REASON_BYTES)}`;
}

/**
 * The message id a job's attempt is signed with (`webhook-id`): one per attempt, so a receiver can tell a retry of the
 * job (a new attempt) from a duplicate request.
 * @example attemptMessageId("reports", "job-1", 2) // "job_reports_job-1_2"
 */
export function attemptMessageId(queue: string, id: string, attempt: number): string {
  return `job_${queue}_${id}_${attempt}`;
}
