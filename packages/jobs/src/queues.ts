import {
  checkPublicUrl,
  errorFields,
  HttpProblem,
  newWebhookSecret,
  QUOTA_EXCEEDED_TYPE,
  sealSecret,
  serviceBinding,
  type Logger,
} from "@foundation/core";
import { createDb, jobQueues, type DbEnv } from "@foundation/db";
import { eq, sql } from "drizzle-orm";
import type { JobChange, JobQueue, QueueSummary, ScheduleView } from "./job-queue.ts";
import { cronProblem } from "./plan.ts";
import { progressTokenValid } from "./push.ts";
import type { JobInput, JobState, JobView, QueueSettings, QueueSettingsInput, ScheduleInput } from "./schema.ts";

/**
 * The job queues as any worker that binds `JOB_QUEUE` uses them: the same operations as the HTTP API, each throwing
 * an `HttpProblem` for what the caller got wrong (404 for an unknown queue or job, 400 for a bad target or pattern,
 * 409 for a job in the wrong state, 429 for a full queue) and 503 when storage does not answer.
 */

/** What the queue operations need from the worker running them. */
export interface QueuesEnv extends DbEnv {
  JOB_QUEUE: DurableObjectNamespace<JobQueue>;
  EVENT_SIGNING_SECRET: string;
  /** `local` allows loopback target URLs. */
  ENVIRONMENT?: string;
}

/** The queue object of a queue. */
export function queueStub(env: Pick<QueuesEnv, "JOB_QUEUE">, queue: string) {
  return env.JOB_QUEUE.get(env.JOB_QUEUE.idFromName(queue));
}

const unknownQueue = (queue: string) =>
  new HttpProblem(404, { slug: "unknown-queue", detail: `No queue named "${queue}"; create it with PUT.` });
const unknownJob = (queue: string, id: string) =>
  new HttpProblem(404, { slug: "unknown-job", detail: `Queue "${queue}" has no job "${id}".` });

/** Refuses targets jobs cannot be pushed to: services the gateway has no binding for, and URLs the address rules forbid. */
function checkTarget(env: QueuesEnv, input: QueueSettingsInput): void {
  const { target } = input;
  if ("service" in target) {
    if (serviceBinding(env, target.service)) return;
    throw new HttpProblem(400, { slug: "unknown-job-target", detail: `No service named "${target.service}" is bound to the gateway.` });
  }
  const check = checkPublicUrl(target.url, { local: env.ENVIRONMENT === "local" });
  if (!check.ok) throw new HttpProblem(400, { slug: "unsafe-job-target", detail: `Target URL refused: ${check.reason}.` });
}

/**
 * Creates or changes a queue. A URL target gets a Standard Webhooks secret when the queue is created or its URL
 * changes, answered this once (`secret`); the queue keeps it sealed. `origin` is the gateway's, for progress URLs.
 * @example const { queue, secret } = await putQueue(env, log, "reports", input, "https://gw.example.com");
 */
export async function putQueue(
  env: QueuesEnv,
  log: Logger,
  name: string,
  input: QueueSettingsInput,
  origin: string,
): Promise<{ queue: QueueSummary; secret?: string; created: boolean }> {
  checkTarget(env, input);
  const stub = queueStub(env, name);
  const before = await stub.settings();
  const sameUrl = before && "url" in before.target && "url" in input.target && before.target.url === input.target.url;
  let secret: string | undefined;
  let sealed = sameUrl ? before.secret : undefined;
  if ("url" in input.target && !sealed) {
    secret = newWebhookSecret();
    sealed = await sealSecret(env.EVENT_SIGNING_SECRET, secret);
  }
  const settings: QueueSettings = { ...input, name, progressOrigin: origin, ...(sealed ? { secret: sealed } : {}) };
  await stub.configure(settings);
  try {
    await createDb(env)
      .insert(jobQueues)
      .values({ name, target: input.target })
      .onConflictDoUpdate({ target: jobQueues.name, set: { target: input.target, updatedAt: sql`now()` } });
  } catch (err) {
    // The queue works without its row; only listing it needs the row, which a retry of the PUT writes.
    log.error("listing the queue failed", { queue: name, ...errorFields(err) });
    throw new HttpProblem(503, {
      slug: "storage-unavailable",
      detail: "The queue was configured but not listed; retry.",
      headers: { "Retry-After": "1" },
    });
  }
  const queue = await stub.summary();
  if (!queue) throw unknownQueue(name);
  return { queue, created: before === null, ...(secret ? { secret } : {}) };
}

/** A queue's settings, pause state, job counts and schedule count. */
export async function queueSummary(env: QueuesEnv, name: string): Promise<QueueSummary> {
  const summary = await queueStub(env, name).summary();
  if (!summary) throw unknownQueue(name);
  return summary;
}

/** Every queue, by name, with its summary. */
export async function listQueues(env: QueuesEnv): Promise<QueueSummary[]> {
  const rows = await createDb(env).select({ name: jobQueues.name }).from(jobQueues).orderBy(jobQueues.name).limit(1000);
  const summaries: Array<QueueSummary | null> = await Promise.all(rows.map((r) => queueStub(env, r.name).summary()));
  return summaries.filter((s): s is QueueSummary => s !== null);
}

/** Deletes a queue with its jobs and schedules. */
export async function deleteQueue(env: QueuesEnv, name: string): Promise<void> {
  const stub = queueStub(env, name);
  if (!(await stub.settings())) throw unknownQueue(name);
  await stub.destroy();
  await createDb(env).delete(jobQueues).where(eq(jobQueues.name, name));
}

/**
 * Adds one or more jobs (see `JobQueue.add`): the ids in input order, each with whether its `jobId` was a duplicate.
 * @example const [{ id }] = await addJobs(env, "reports", [{ name: "weekly", data: { brand: "acme" } }]);
 */
export async function addJobs(
  env: QueuesEnv,
  name: string,
  inputs: readonly JobInput[],
): Promise<Array<{ id: string; duplicate: boolean }>> {
  const outcome = await queueStub(env, name).add(inputs);
  if (outcome.ok) return outcome.jobs;
  if (outcome.error === "unconfigured") throw unknownQueue(name);
  throw new HttpProblem(429, {
    type: QUOTA_EXCEEDED_TYPE,
    title: "Request cannot be satisfied as assigned quota has been exceeded",
    detail: `Queue "${name}" holds ${outcome.limit} unfinished jobs, its most; add again once some have run.`,
    headers: { "Retry-After": "10" },
  });
}

/** One job. */
export async function getJob(env: QueuesEnv, name: string, id: string): Promise<JobView> {
  const job = await queueStub(env, name).job(id);
  if (!job) throw (await queueStub(env, name).settings()) ? unknownJob(name, id) : unknownQueue(name);
  return job;
}

/** Jobs in a state, oldest added first, a page at a time. */
export async function listJobs(env: QueuesEnv, name: string, state: JobState, limit: number, after?: number) {
  const stub = queueStub(env, name);
  if (!(await stub.settings())) throw unknownQueue(name);
  return stub.jobs(state, limit, after);
}

function changed(name: string, id: string, change: JobChange, verb: string): JobView {
  if (change.ok) return change.job;
  if (change.error === "unknown") throw unknownJob(name, id);
  throw new HttpProblem(409, { slug: "job-state", detail: `Job "${id}" is ${change.state}; only ${verb}.` });
}

/** Cancels a job that has not finished. */
export async function cancelJob(env: QueuesEnv, name: string, id: string): Promise<JobView> {
  return changed(name, id, await queueStub(env, name).cancel(id), "a job that has not finished can be cancelled");
}

/** Runs a failed or cancelled job again. */
export async function retryJob(env: QueuesEnv, name: string, id: string): Promise<JobView> {
  return changed(name, id, await queueStub(env, name).retry(id), "a failed or cancelled job can be retried");
}

/** Pauses or resumes a queue. */
export async function setQueuePaused(env: QueuesEnv, name: string, paused: boolean): Promise<QueueSummary> {
  const stub = queueStub(env, name);
  if (!(await stub.settings())) throw unknownQueue(name);
  await stub.setPaused(paused);
  return queueSummary(env, name);
}

/** Creates or replaces a schedule of a queue; a cron pattern or time zone that cannot be used is a 400. */
export async function putSchedule(env: QueuesEnv, name: string, id: string, input: ScheduleInput): Promise<ScheduleView> {
  if ("cron" in input.repeat) {
    const problem = cronProblem(input.repeat.cron, input.repeat.tz);
    if (problem) {
      throw new HttpProblem(400, {
        slug: "validation-error",
        title: "Request validation failed",
        detail: `The schedule cannot be used: ${problem}.`,
        errors: [{ pointer: "/body/repeat/cron", message: problem, code: "invalid_cron" }],
      });
    }
  }
  const stub = queueStub(env, name);
  if (!(await stub.settings())) throw unknownQueue(name);
  return stub.putSchedule(id, input);
}

/** Deletes a schedule of a queue. */
export async function deleteSchedule(env: QueuesEnv, name: string, id: string): Promise<void> {
  if (!(await queueStub(env, name).removeSchedule(id))) {
    throw new HttpProblem(404, { slug: "unknown-schedule", detail: `Queue "${name}" has no schedule "${id}".` });
  }
}

/** A queue's schedules. */
export async function listSchedules(env: QueuesEnv, name: string): Promise<ScheduleView[]> {
  const stub = queueStub(env, name);
  if (!(await stub.settings())) throw unknownQueue(name);
  return stub.schedules();
}

/**
 * Records a worker's progress report for one attempt, authorised by the token of that attempt's progress URL (401
 * otherwise); 409 when the job is no longer in that attempt.
 */
export async function reportProgress(
  env: QueuesEnv,
  name: string,
  id: string,
  attempt: number,
  token: string,
  value: unknown,
): Promise<void> {
  if (!(await progressTokenValid(env.EVENT_SIGNING_SECRET, name, id, attempt, token))) {
    throw new HttpProblem(401, { slug: "bad-progress-token", detail: "The progress URL's token does not match this job and attempt." });
  }
  if (!(await queueStub(env, name).progress(id, attempt, value))) {
    throw new HttpProblem(409, { slug: "job-state", detail: `Job "${id}" is not running attempt ${attempt}.` });
  }
}
