import { env } from "cloudflare:workers";
import { SELF } from "cloudflare:test";
import { webhookHeaders } from "@foundation/core";
import { JOB_PATH, readJobAnswer, type JobRequest } from "@foundation/jobs/worker";
import { describe, expect, it } from "vitest";
import { createService } from "../src/create-service.ts";
import { JobRateLimited } from "../src/jobs.ts";

/** A service on the kit with job handlers, as a module that runs a queue's jobs writes it. */
function worker() {
  const app = createService<Env>({ name: "kit-jobs", version: "1.0.0", logSink: () => undefined });
  app.job("reports.*", async (job, { progress }) => {
    const data = job.data as { fail?: string; throttleMs?: number; progress?: number };
    if (data.progress !== undefined) await progress(data.progress);
    if (data.throttleMs !== undefined) throw new JobRateLimited(data.throttleMs);
    if (data.fail) throw new Error(data.fail);
    return { rows: 3, attempt: job.attempt };
  });
  return app;
}

const request = (data: unknown, extra: Partial<JobRequest> = {}): JobRequest => ({
  queue: "reports.weekly",
  id: "job-1",
  name: "weekly",
  data,
  attempt: 1,
  attempts: 3,
  createdAt: new Date().toISOString(),
  progressUrl: null,
  ...extra,
});

async function push(job: JobRequest, secret = env.EVENT_SIGNING_SECRET, bindings: object = env): Promise<Response> {
  const body = JSON.stringify(job);
  const headers = { "content-type": "application/json", ...(await webhookHeaders([secret], "msg_1", Date.now(), body)) };
  return worker().request(JOB_PATH, { method: "POST", headers, body }, bindings);
}

describe("app.job: a service running a queue's jobs", () => {
  it("answers the handler's result, which the queue reads as the job's result", async () => {
    const res = await push(request({}));
    expect(res.status).toBe(200);
    expect(readJobAnswer(res.status, null, await res.text(), Date.now())).toEqual({ kind: "completed", result: { rows: 3, attempt: 1 } });
  });

  it("fails the attempt with the error's message as the reason", async () => {
    const res = await push(request({ fail: "upstream said no" }));
    expect(res.status).toBe(500);
    expect(readJobAnswer(res.status, null, await res.text(), Date.now())).toEqual({ kind: "failed", reason: "HTTP 500: upstream said no" });
  });

  it("answers 429 with Retry-After for JobRateLimited, which the queue reads as a delay, not a failure", async () => {
    const res = await push(request({ throttleMs: 2500 }));
    expect(res.status).toBe(429);
    expect(readJobAnswer(res.status, res.headers.get("retry-after"), await res.text(), Date.now())).toEqual({
      kind: "throttled",
      retryAfterMs: 3000,
    });
  });

  it("refuses an unsigned or forged push, and a queue it has no handler for", async () => {
    const body = JSON.stringify(request({}));
    const unsigned = await worker().request(JOB_PATH, { method: "POST", headers: { "content-type": "application/json" }, body }, env);
    expect(unsigned.status).toBe(401);
    expect((await push(request({}), "whsec_" + btoa("not the secret, not the secret!!"))).status).toBe(401);
    expect((await push(request({}, { queue: "invoices" }))).status).toBe(404);
  });

  it("reports progress to the progress URL through the GATEWAY binding when the service has one", async () => {
    // The real gateway refuses this token: the handler's progress() throws, and the attempt fails saying so.
    const progressUrl = "http://gw.test/api/foundation/queues/reports.weekly/jobs/job-1/progress?attempt=1&token=forged";
    const res = await push(request({ progress: 50 }, { progressUrl }), env.EVENT_SIGNING_SECRET, { ...env, GATEWAY: SELF });
    expect(res.status).toBe(500);
    expect(await res.json()).toMatchObject({ detail: "progress not recorded: HTTP 401" });
  });
});
