import { errorFields, HttpProblem, verifyWebhook, validationProblem, type Logger, type MetricsRegistry } from "@foundation/core";
import { JobRequest } from "@foundation/jobs/worker";
import type { Context, Handler } from "hono";

/** One attempt of a job, as a handler receives it. */
export type Job = Omit<JobRequest, "progressUrl">;

/** What a job handler has besides the job: the request's context, and a way to report progress. */
export interface JobContext<E extends object> {
  c: Context<{ Bindings: E }>;
  /** Records the attempt's progress (any JSON: a percentage, a step name); readable with the job. */
  progress: (value: unknown) => Promise<void>;
}

/**
 * Runs one attempt of a job of a queue whose target is this service. What it returns (JSON) is the job's result; a
 * throw fails the attempt (retried per the job's `attempts` and `backoff`); throwing {@link JobRateLimited} puts the
 * job back without spending the attempt.
 */
export type JobHandler<E extends object> = (job: Job, ctx: JobContext<E>) => unknown;

/**
 * Thrown by a job handler when an upstream it calls is rate-limiting it (a paid AI API's 429, say): the queue delays
 * the job by `retryAfterMs` and does not count the attempt.
 * @example if (res.status === 429) throw new JobRateLimited(retryAfterMs(res.headers.get("retry-after"), Date.now()) ?? 1000);
 */
export class JobRateLimited extends Error {
  override readonly name = "JobRateLimited";

  constructor(readonly retryAfterMs: number) {
    super(`rate-limited upstream; retry in ${retryAfterMs} ms`);
  }
}

/**
 * The handler of a queue: its own, else that of the longest `prefix*` it matches.
 * @example handlerFor(new Map([["reports.*", h]]), "reports.weekly") // h
 */
export function handlerFor<H>(handlers: ReadonlyMap<string, H>, queue: string): H | undefined {
  const exact = handlers.get(queue);
  if (exact) return exact;
  let best: { length: number; handler: H } | undefined;
  for (const [pattern, handler] of handlers) {
    if (!pattern.endsWith("*") || !queue.startsWith(pattern.slice(0, -1))) continue;
    if (!best || pattern.length > best.length) best = { length: pattern.length, handler };
  }
  return best?.handler;
}

/**
 * The endpoint that receives a queue's pushes: it refuses unsigned, forged or stale requests with 401, runs the
 * queue's handler, and answers its result (200), 429 with `Retry-After` for {@link JobRateLimited}, or a 500 problem
 * whose detail is the error's message, which the queue keeps as the attempt's failure reason.
 */
export function jobEndpoint<E extends { EVENT_SIGNING_SECRET?: string }>(
  handlers: ReadonlyMap<string, JobHandler<E>>,
  metrics: MetricsRegistry,
): Handler<{ Bindings: E }> {
  const ran = metrics.counter("foundation_jobs_handled_total", "Job attempts this service ran, by queue and outcome");
  return async (c) => {
    const secret = c.env.EVENT_SIGNING_SECRET;
    if (!secret) throw new HttpProblem(503, { slug: "jobs-not-configured", detail: "EVENT_SIGNING_SECRET is not set." });
    const body = await c.req.text();
    const failure = await verifyWebhook(secret, (name) => c.req.header(name), body, Date.now());
    if (failure) throw new HttpProblem(401, { slug: "bad-signature", detail: `Job signature ${failure}.` });
    let raw: unknown;
    try {
      raw = JSON.parse(body);
    } catch {
      throw new HttpProblem(400, { detail: "Malformed JSON in request body" });
    }
    const parsed = JobRequest.safeParse(raw);
    if (!parsed.success) throw validationProblem(parsed.error, "json");
    const { progressUrl, ...job } = parsed.data;
    const handler = handlerFor(handlers, job.queue);
    if (!handler) throw new HttpProblem(404, { slug: "no-job-handler", detail: `This service has no handler for queue "${job.queue}".` });
    const progress = async (value: unknown) => {
      if (!progressUrl) return;
      const init = { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ progress: value }) };
      // A service bound to the gateway (`GATEWAY`) reports through the binding; any other through the gateway's URL.
      const gateway = (c.env as { GATEWAY?: { fetch: typeof fetch } }).GATEWAY;
      const res = await (gateway ? gateway.fetch(progressUrl, init) : fetch(progressUrl, init));
      if (!res.ok && res.status !== 409) throw new Error(`progress not recorded: HTTP ${res.status}`);
    };
    try {
      const result = await handler(job, { c, progress });
      ran.inc({ queue: job.queue, outcome: "completed" });
      return c.json(result ?? null);
    } catch (err) {
      if (err instanceof JobRateLimited) {
        ran.inc({ queue: job.queue, outcome: "rate_limited" });
        throw new HttpProblem(429, {
          slug: "rate-limited",
          detail: err.message,
          headers: { "Retry-After": String(Math.ceil(err.retryAfterMs / 1000)) },
        });
      }
      ran.inc({ queue: job.queue, outcome: "failed" });
      const fields = errorFields(err);
      (c.get("log" as never) as Logger | undefined)?.error("job handler failed", {
        queue: job.queue,
        job: job.id,
        attempt: job.attempt,
        ...fields,
      });
      throw new HttpProblem(500, { slug: "job-failed", detail: String(fields.error) });
    }
  };
}
