/**
 * `@foundation/jobs`: job queues on Durable Objects. A `JobQueue` object per queue keeps its jobs and schedules in
 * SQLite and pushes each attempt to the queue's target (a service on the kit, or any HTTPS URL) within the queue's
 * concurrency and rate limit, with retries, backoff, progress and results. `./worker` is the contract a worker needs.
 */
export {
  JobQueue,
  type AddOutcome,
  type JobChange,
  type JobQueueEnv,
  type LatestJobs,
  type QueueSummary,
  type QueueUsage,
  type ScheduleView,
} from "./job-queue.ts";
export { jobMetrics } from "./metrics.ts";
export { backoffDelayMs, cronProblem, nextRunAt, rateWaitMs, scheduledJobId, type Start } from "./plan.ts";
export { progressToken, progressTokenValid, progressUrl, pushJob, type PushEnv } from "./push.ts";
export {
  addJobs,
  cancelJob,
  deleteQueue,
  deleteSchedule,
  getJob,
  listJobs,
  listQueues,
  listSchedules,
  putQueue,
  putSchedule,
  queueStub,
  queueSummary,
  reportProgress,
  retryJob,
  setQueuePaused,
  type QueuesEnv,
} from "./queues.ts";
export { LEASE_GRACE_MS } from "./runner.ts";
export {
  AddJobsBody,
  Backoff,
  JOB_STATES,
  JobDefaults,
  JobInput,
  JobTarget,
  Keep,
  MAX_DELAY_MS,
  MAX_JOB_DATA_BYTES,
  MAX_JOBS_PER_ADD,
  MAX_OPEN_JOBS,
  QueueName,
  QueueSettingsInput,
  RateLimit,
  Repeat,
  ScheduleInput,
  type JobBrief,
  type JobState,
  type JobView,
  type QueueSettings,
} from "./schema.ts";
export { SqlMeter, type SqlUsage } from "./usage.ts";
export * from "./worker.ts";
