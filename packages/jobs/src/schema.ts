import { z } from "zod";

/** Queue names: what the URL path and the queue's object are named by. */
export const QueueName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,127}$/, "queue names are 1-128 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit");

/** Largest serialised `data` of a job, and largest result stored: what an event may carry. */
export const MAX_JOB_DATA_BYTES = 64 * 1024;
/** Most jobs one request may add. */
export const MAX_JOBS_PER_ADD = 1000;
/** Most jobs a queue holds that have not finished (waiting, delayed, active): past it, adds are refused with 429. */
export const MAX_OPEN_JOBS = 100_000;
/** Longest delay or schedule horizon of a job: a year. */
export const MAX_DELAY_MS = 365 * 24 * 3600 * 1000;

/** Where a queue's jobs run: a service on the kit (its `app.job` handlers), or any HTTPS URL. */
export const JobTarget = z.union([
  z.object({ service: z.string().regex(/^[a-z0-9-]{1,64}$/) }).strict(),
  z.object({ url: z.url({ protocol: /^https?$/ }).max(2048) }).strict(),
]);
/** Where a queue's jobs run. */
export type JobTarget = z.infer<typeof JobTarget>;

/** How long a failed attempt waits before the next: `exponential` doubles `delayMs` with every attempt. */
export const Backoff = z
  .object({
    type: z.enum(["exponential", "fixed"]).default("exponential"),
    delayMs: z.number().int().min(0).max(86_400_000).default(1000),
  })
  .strict();
/** Retry timing of a job. */
export type Backoff = z.infer<typeof Backoff>;

/** How many finished jobs of one kind a queue keeps, and for how long. */
export const Keep = z
  .object({
    count: z.number().int().min(0).max(1_000_000).optional(),
    ageSeconds: z
      .number()
      .int()
      .min(0)
      .max(365 * 86_400)
      .optional(),
  })
  .strict();
/** How many finished jobs a queue keeps. */
export type Keep = z.infer<typeof Keep>;

/** What a job gets when its add does not say. */
export const JobDefaults = z
  .object({
    attempts: z.number().int().min(1).max(100).default(3),
    backoff: Backoff.default({ type: "exponential", delayMs: 1000 }),
    /** Longest an attempt may run before it counts as failed. */
    timeoutMs: z.number().int().min(100).max(600_000).default(30_000),
    removeOnComplete: Keep.default({ count: 1000, ageSeconds: 86_400 }),
    removeOnFail: Keep.default({ count: 10_000, ageSeconds: 7 * 86_400 }),
  })
  .strict();
/** What a job gets when its add does not say. */
export type JobDefaults = z.infer<typeof JobDefaults>;

/** At most `max` units (job starts, or their `cost`) per `durationMs`, over a sliding window. */
export const RateLimit = z
  .object({
    max: z.number().int().min(1).max(1_000_000),
    durationMs: z.number().int().min(1).max(86_400_000),
  })
  .strict();
/** A queue's rate limit. */
export type RateLimit = z.infer<typeof RateLimit>;

/** Body of `PUT /api/foundation/queues/:queue`. */
export const QueueSettingsInput = z
  .object({
    target: JobTarget,
    /** Most jobs of the queue running at once, across the platform. */
    concurrency: z.number().int().min(1).max(1000).default(10),
    rateLimit: RateLimit.optional(),
    defaults: JobDefaults.default(JobDefaults.parse({})),
  })
  .strict();
/** A queue's settings, defaults filled in. */
export type QueueSettingsInput = z.infer<typeof QueueSettingsInput>;

/** A queue's settings as its object keeps them: a URL target's signing secret sealed, and where workers report progress. */
export type QueueSettings = QueueSettingsInput & {
  name: string;
  /** The URL target's Standard Webhooks secret, sealed (see `sealSecret`). */
  secret?: string;
  /** Origin of the gateway, for the progress URL each job carries. */
  progressOrigin?: string;
};

const JobId = z
  .string()
  .regex(/^[\x21-\x7e]{1,255}$/, "job ids are 1-255 printable ASCII characters without spaces")
  .refine((id) => !id.startsWith("schedule:"), "job ids starting with 'schedule:' are reserved for scheduled jobs");

const jsonBytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value ?? null)).length;

/** The fields of a job to add: BullMQ's options where they apply. */
const JobFields = z
  .object({
    name: z.string().min(1).max(128),
    data: z
      .unknown()
      .optional()
      .refine((d) => jsonBytes(d) <= MAX_JOB_DATA_BYTES, `data may be at most ${MAX_JOB_DATA_BYTES} bytes as JSON`),
    /** Deduplicates: adding a job whose id the queue still holds answers that job and adds nothing. */
    jobId: JobId.optional(),
    delayMs: z.number().int().min(0).max(MAX_DELAY_MS).optional(),
    /** When to run, as an ISO 8601 time; not with `delayMs`. */
    runAt: z.iso.datetime({ offset: true }).optional(),
    /** Lower runs first; ties by due time, then by when added. */
    priority: z.number().int().min(0).max(2_097_152).default(0),
    attempts: z.number().int().min(1).max(100).optional(),
    backoff: Backoff.optional(),
    timeoutMs: z.number().int().min(100).max(600_000).optional(),
    /** Units of the queue's rate limit the job takes (say, the tokens an AI call will use); default 1. */
    cost: z.number().int().min(1).max(1_000_000).default(1),
  })
  .strict();

/** One job to add. */
export const JobInput = JobFields.refine((j) => j.delayMs === undefined || j.runAt === undefined, {
  message: "give delayMs or runAt, not both",
  path: ["runAt"],
});
/** One job to add. */
export type JobInput = z.infer<typeof JobInput>;

/** Body of `POST /api/foundation/queues/:queue/jobs`: one job, or up to 1,000. */
export const AddJobsBody = z.union([JobInput, z.array(JobInput).min(1).max(MAX_JOBS_PER_ADD)]);

/** How a schedule repeats: a cron pattern (5 or 6 fields, in a time zone), or a fixed interval. */
export const Repeat = z.union([
  z.object({ cron: z.string().min(9).max(128), tz: z.string().min(1).max(64).default("UTC") }).strict(),
  z.object({ everyMs: z.number().int().min(1000).max(MAX_DELAY_MS) }).strict(),
]);
/** How a schedule repeats. */
export type Repeat = z.infer<typeof Repeat>;

/** Body of `PUT /api/foundation/queues/:queue/schedules/:schedule`: what to add, and when. */
export const ScheduleInput = z
  .object({
    repeat: Repeat,
    /** The job each run adds (its `jobId` is the schedule's and the run's time). */
    job: JobFields.omit({ jobId: true, delayMs: true, runAt: true }),
  })
  .strict();
/** A schedule as its creator gave it. */
export type ScheduleInput = z.infer<typeof ScheduleInput>;

/** The states a job goes through; `waiting` and `delayed` are one stored state split by due time. */
export const JOB_STATES = ["waiting", "delayed", "active", "completed", "failed", "cancelled"] as const;
/** A job's state. */
export type JobState = (typeof JOB_STATES)[number];

/** A job as the API shows it. */
export interface JobView {
  id: string;
  queue: string;
  name: string;
  data: unknown;
  state: JobState;
  priority: number;
  cost: number;
  progress: unknown;
  result: unknown;
  attemptsMade: number;
  attempts: number;
  failedReason: string | null;
  createdAt: string;
  runAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  /** The schedule that added the job, if one did. */
  schedule: string | null;
}

/** A job without its data, result or progress: what a list of many jobs shows. */
export interface JobBrief {
  id: string;
  name: string;
  state: JobState;
  attemptsMade: number;
  attempts: number;
  failedReason: string | null;
  runAt: string;
  finishedAt: string | null;
}
