import { workerMetrics } from "@foundation/core";

/** Seconds buckets for job waits and runs: 10 ms to 10 minutes. */
const JOB_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 600];

/** The job queues' metrics, by queue: what went through them, how long jobs waited and ran, and how deep they are. */
export const jobMetrics = {
  added: workerMetrics.counter("foundation_jobs_added_total", "Jobs added to a queue (duplicates by jobId not counted), by queue"),
  started: workerMetrics.counter("foundation_jobs_started_total", "Job attempts started, by queue"),
  completed: workerMetrics.counter("foundation_jobs_completed_total", "Jobs completed, by queue"),
  failed: workerMetrics.counter(
    "foundation_jobs_failed_total",
    "Job attempts failed, by queue and whether the job will be retried (final=false) or not",
  ),
  throttled: workerMetrics.counter(
    "foundation_jobs_throttled_total",
    "Job attempts the worker answered with 429 or 503 and Retry-After, by queue",
  ),
  wait: workerMetrics.histogram(
    "foundation_job_wait_seconds",
    "Seconds from a job being due to its attempt starting, by queue",
    JOB_BUCKETS,
  ),
  run: workerMetrics.histogram("foundation_job_run_seconds", "Seconds an attempt ran, by queue and outcome", JOB_BUCKETS),
  depth: workerMetrics.gauge("foundation_queue_jobs", "Jobs in a queue, by queue and state"),
  oldestWaiting: workerMetrics.gauge(
    "foundation_queue_oldest_waiting_seconds",
    "Seconds the oldest waiting job of a queue has been due without starting (0 when none waits), by queue",
  ),
};
