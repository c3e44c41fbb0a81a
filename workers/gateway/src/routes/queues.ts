import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import {
  addJobs,
  AddJobsBody,
  cancelJob,
  deleteQueue,
  deleteSchedule,
  getJob,
  JOB_STATES,
  listJobs,
  listQueues,
  listSchedules,
  putQueue,
  putSchedule,
  QueueName,
  QueueSettingsInput,
  queueSummary,
  reportProgress,
  retryJob,
  ScheduleInput,
  setQueuePaused,
} from "@foundation/jobs";
import { jsonBodiesOnly, requireAuth } from "@foundation/service-kit";
import type { GatewayEnv } from "../env.ts";

const Queue = z
  .object({
    name: z.string(),
    paused: z.boolean(),
    counts: z.record(z.enum(JOB_STATES), z.number()),
    lastMinute: z
      .object({ completed: z.number(), failed: z.number() })
      .openapi({ description: "Jobs that completed, and failed for good, in the last minute (of those the queue still keeps)" }),
    schedules: z.number(),
  })
  .passthrough()
  .openapi("Queue");
const PutQueueAnswer = z
  .object({
    queue: Queue,
    created: z.boolean(),
    secret: z
      .string()
      .optional()
      .openapi({ description: "A URL target's Standard Webhooks signing secret (`whsec_…`): shown only in this answer" }),
  })
  .openapi("PutQueueAnswer");
const Job = z
  .object({
    id: z.string(),
    name: z.string(),
    state: z.enum(JOB_STATES),
    progress: z.unknown(),
    result: z.unknown(),
    attemptsMade: z.number(),
    failedReason: z.string().nullable(),
  })
  .passthrough()
  .openapi("Job");
const Schedule = z.object({ id: z.string(), nextRunAt: z.string().nullable() }).passthrough().openapi("Schedule");
const Added = z
  .union([z.object({ id: z.string(), duplicate: z.boolean() }), z.object({ ids: z.array(z.string()), duplicates: z.array(z.boolean()) })])
  .openapi("JobsAdded");

const QueueParams = z.object({ queue: QueueName });
const JobParams = QueueParams.extend({ id: z.string().min(1).max(255) });
const ScheduleParams = QueueParams.extend({ schedule: z.string().regex(/^[a-z0-9._-]{1,128}$/) });
const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { "application/json": { schema } } });
const body = <T extends z.ZodType>(schema: T) => ({ body: { content: { "application/json": { schema } }, required: true } });
const bearer = [{ bearer: [] }];
const unknownQueue = { description: "No such queue" };

const putQueueRoute = createRoute({
  method: "put",
  path: "/{queue}",
  summary: "Create or change a job queue: its target, concurrency, rate limit and job defaults (admin)",
  security: bearer,
  request: { params: QueueParams, ...body(QueueSettingsInput) },
  responses: { 200: json(PutQueueAnswer, "The queue") },
});
const listQueuesRoute = createRoute({
  method: "get",
  path: "/",
  summary: "Every job queue with its job counts by state",
  security: bearer,
  responses: { 200: json(z.object({ queues: z.array(Queue) }), "The queues, by name") },
});
const getQueueRoute = createRoute({
  method: "get",
  path: "/{queue}",
  summary: "A queue's settings, pause state, job counts by state and schedule count",
  security: bearer,
  request: { params: QueueParams },
  responses: { 200: json(Queue, "The queue"), 404: unknownQueue },
});
const deleteQueueRoute = createRoute({
  method: "delete",
  path: "/{queue}",
  summary: "Delete a queue with its jobs and schedules (admin)",
  security: bearer,
  request: { params: QueueParams },
  responses: { 204: { description: "Deleted" }, 404: unknownQueue },
});
const pauseRoute = (action: "pause" | "resume") =>
  createRoute({
    method: "post",
    path: `/{queue}/${action}`,
    summary:
      action === "pause" ? "Pause a queue: no job starts until resumed; running ones finish (admin)" : "Resume a paused queue (admin)",
    security: bearer,
    request: { params: QueueParams },
    responses: { 200: json(Queue, "The queue"), 404: unknownQueue },
  });
const addJobsRoute = createRoute({
  method: "post",
  path: "/{queue}/jobs",
  summary: "Add one job, or up to 1,000 in one transaction: immediate, delayed (`delayMs`, `runAt`), prioritised, deduplicated by `jobId`",
  security: bearer,
  request: { params: QueueParams, ...body(AddJobsBody) },
  responses: {
    201: json(Added, "Added; a job whose `jobId` the queue holds is answered with `duplicate: true` and not added again"),
    404: unknownQueue,
    429: { description: "The queue holds its most unfinished jobs (IETF `quota-exceeded` problem); nothing was added" },
  },
});
const listJobsRoute = createRoute({
  method: "get",
  path: "/{queue}/jobs",
  summary: "Jobs of a queue in one state, oldest added first",
  security: bearer,
  request: {
    params: QueueParams,
    query: z.object({
      state: z.enum(JOB_STATES).default("waiting"),
      limit: z.coerce.number().int().min(1).max(1000).default(100),
      after: z.coerce.number().int().min(0).optional().openapi({ description: "The `next` cursor of the previous page" }),
    }),
  },
  responses: { 200: json(z.object({ jobs: z.array(Job), next: z.number().nullable() }), "A page of jobs"), 404: unknownQueue },
});
const getJobRoute = createRoute({
  method: "get",
  path: "/{queue}/jobs/{id}",
  summary: "A job: state, progress, result, attempts, failure reason and times",
  security: bearer,
  request: { params: JobParams },
  responses: { 200: json(Job, "The job"), 404: { description: "No such queue or job" } },
});
const jobActionRoute = (action: "cancel" | "retry") =>
  createRoute({
    method: "post",
    path: `/{queue}/jobs/{id}/${action}`,
    summary:
      action === "cancel"
        ? "Cancel a job that has not finished: a waiting or delayed one never starts"
        : "Run a failed or cancelled job again, its attempts counted afresh",
    security: bearer,
    request: { params: JobParams },
    responses: {
      200: json(Job, "The job"),
      404: { description: "No such queue or job" },
      409: { description: "The job is in another state" },
    },
  });
const progressRoute = createRoute({
  method: "post",
  path: "/{queue}/jobs/{id}/progress",
  summary: "Report a running attempt's progress: the worker POSTs to the `progressUrl` its job carries (the URL holds its credential)",
  request: {
    params: JobParams,
    query: z.object({ attempt: z.coerce.number().int().min(1), token: z.string().min(1).max(128) }),
    ...body(z.object({ progress: z.unknown() })),
  },
  responses: {
    204: { description: "Recorded" },
    401: { description: "Not this attempt's token" },
    409: { description: "The attempt is over" },
  },
});
const putScheduleRoute = createRoute({
  method: "put",
  path: "/{queue}/schedules/{schedule}",
  summary:
    "Create or replace a schedule: a job added on a cron pattern (in a time zone) or every N ms, once per run whatever the restarts (admin)",
  security: bearer,
  request: { params: ScheduleParams, ...body(ScheduleInput) },
  responses: { 200: json(Schedule, "The schedule and its next run"), 404: unknownQueue },
});
const listSchedulesRoute = createRoute({
  method: "get",
  path: "/{queue}/schedules",
  summary: "A queue's schedules and their next runs",
  security: bearer,
  request: { params: QueueParams },
  responses: { 200: json(z.object({ schedules: z.array(Schedule) }), "The schedules"), 404: unknownQueue },
});
const deleteScheduleRoute = createRoute({
  method: "delete",
  path: "/{queue}/schedules/{schedule}",
  summary: "Delete a schedule; the jobs it added stay (admin)",
  security: bearer,
  request: { params: ScheduleParams },
  responses: { 204: { description: "Deleted" }, 404: { description: "No such schedule" } },
});

/** `/api/foundation/queues`: job queues. Admins configure queues and schedules; `publish` adds, cancels and retries jobs. */
export const queuesRoutes = new OpenAPIHono<GatewayEnv>();
queuesRoutes.use(jsonBodiesOnly());
const admin = requireAuth({ anyOf: ["admin"] });
const publish = requireAuth({ anyOf: ["publish"] });
queuesRoutes.on(["PUT", "DELETE"], ["/:queue", "/:queue/schedules/:schedule"], admin);
queuesRoutes.post("/:queue/pause", admin);
queuesRoutes.post("/:queue/resume", admin);
queuesRoutes.post("/:queue/jobs", publish);
queuesRoutes.post("/:queue/jobs/:id/cancel", publish);
queuesRoutes.post("/:queue/jobs/:id/retry", publish);
queuesRoutes.on("GET", ["/", "/:queue", "/:queue/jobs", "/:queue/jobs/:id", "/:queue/schedules"], requireAuth());

queuesRoutes.openapi(putQueueRoute, async (c) => {
  const { queue } = c.req.valid("param");
  return c.json(await putQueue(c.env, c.var.log, queue, c.req.valid("json"), new URL(c.req.url).origin), 200);
});
queuesRoutes.openapi(listQueuesRoute, async (c) => c.json({ queues: await listQueues(c.env) }, 200));
queuesRoutes.openapi(getQueueRoute, async (c) => c.json(await queueSummary(c.env, c.req.valid("param").queue), 200));
queuesRoutes.openapi(deleteQueueRoute, async (c) => {
  await deleteQueue(c.env, c.req.valid("param").queue);
  return c.body(null, 204);
});
for (const action of ["pause", "resume"] as const) {
  queuesRoutes.openapi(pauseRoute(action), async (c) =>
    c.json(await setQueuePaused(c.env, c.req.valid("param").queue, action === "pause"), 200),
  );
}
queuesRoutes.openapi(addJobsRoute, async (c) => {
  const input = c.req.valid("json");
  const added = await addJobs(c.env, c.req.valid("param").queue, Array.isArray(input) ? input : [input]);
  if (!Array.isArray(input)) return c.json(added[0] ?? { id: "", duplicate: false }, 201);
  return c.json({ ids: added.map((a) => a.id), duplicates: added.map((a) => a.duplicate) }, 201);
});
queuesRoutes.openapi(listJobsRoute, async (c) => {
  const { state, limit, after } = c.req.valid("query");
  return c.json(await listJobs(c.env, c.req.valid("param").queue, state, limit, after), 200);
});
queuesRoutes.openapi(getJobRoute, async (c) => {
  const { queue, id } = c.req.valid("param");
  return c.json(await getJob(c.env, queue, id), 200);
});
for (const [action, change] of [
  ["cancel", cancelJob],
  ["retry", retryJob],
] as const) {
  queuesRoutes.openapi(jobActionRoute(action), async (c) => {
    const { queue, id } = c.req.valid("param");
    return c.json(await change(c.env, queue, id), 200);
  });
}
queuesRoutes.openapi(progressRoute, async (c) => {
  const { queue, id } = c.req.valid("param");
  const { attempt, token } = c.req.valid("query");
  await reportProgress(c.env, queue, id, attempt, token, c.req.valid("json").progress);
  return c.body(null, 204);
});
queuesRoutes.openapi(putScheduleRoute, async (c) => {
  const { queue, schedule } = c.req.valid("param");
  return c.json(await putSchedule(c.env, queue, schedule, c.req.valid("json")), 200);
});
queuesRoutes.openapi(listSchedulesRoute, async (c) => c.json({ schedules: await listSchedules(c.env, c.req.valid("param").queue) }, 200));
queuesRoutes.openapi(deleteScheduleRoute, async (c) => {
  const { queue, schedule } = c.req.valid("param");
  await deleteSchedule(c.env, queue, schedule);
  return c.body(null, 204);
});
