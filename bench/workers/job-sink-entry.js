/**
 * Entry of the jobs bench's worker (bundled by bench/lib/job-workers.ts). JavaScript on purpose, as
 * event-sink-entry.js: bench/ is type-checked with Node's types and the service kit needs workerd's. The gateway's
 * `bench.jobs.*` queues push their jobs here through its `BENCH_JOBS` service binding, as to any service on the kit.
 * `GET /usage/<queue>` answers what that queue's object has cost (`JobQueue.usage()`, over its `JOB_QUEUE` binding).
 */
import { createService } from "@foundation/service-kit";
import { JOB_SINK_PREFIX, JobStartRecorder } from "./job-sink.ts";

const recorder = new JobStartRecorder();
const app = createService({ name: "bench-jobs", version: "0.0.0", registry: false, dependencies: { redis: false, postgres: false } });

// A no-op job: note when it started, answer no result.
app.job(`${JOB_SINK_PREFIX}*`, (job) => {
  recorder.record(job, Date.now());
  return null;
});
app.get("/count", (c) => c.json(recorder.progress()));
app.get("/stats", (c) => c.json(recorder.snapshot()));
app.post("/reset", (c) => {
  recorder.reset();
  return c.json({ ok: true });
});
app.get("/usage/:queue", async (c) => {
  const ns = c.env.JOB_QUEUE;
  return c.json(await ns.get(ns.idFromName(c.req.param("queue"))).usage());
});

export default app;
