import { abortAllDurableObjects, createExecutionContext, env, SELF, waitOnExecutionContext } from "cloudflare:test";
import { RegistryCache, RegistryClient } from "@foundation/registry";
import {
  createService,
  httpSink,
  labelKey,
  MetricsPusher,
  MetricsRegistry,
  shardName,
  type Labels,
  type MetricsBatch,
  type MetricsSink,
} from "@foundation/service-kit";
import { describe, expect, it } from "vitest";
import { token } from "./auth.ts";

const unique = (prefix: string) => `${prefix}-${crypto.randomUUID().slice(0, 8)}`;

/** What the gateway serves at /metrics: every worker's isolates, aggregated. */
async function scrape(): Promise<string> {
  const res = await SELF.fetch("http://gw.test/metrics");
  expect(res.status).toBe(200);
  return res.text();
}

/** The value of one series in an exposition (a bucket's `le` comes last), or undefined when it is absent. */
function valueOf(text: string, name: string, labels: Labels): number | undefined {
  const { le, ...rest } = labels;
  const prefix = `${name}{${[labelKey(rest), le === undefined ? "" : `le="${le}"`].filter(Boolean).join(",")}} `;
  const line = text.split("\n").find((l) => l.startsWith(prefix));
  return line === undefined ? undefined : Number(line.slice(prefix.length));
}

/** One isolate of a service: its own registry and pusher, as a fresh isolate of a deployed worker has. */
function isolateOf(service: string) {
  const app = createService<Env>({
    name: service,
    version: "1.0.0",
    registry: false,
    logSink: () => {},
    metricsFlush: { maxRequests: 3, intervalMs: 50 },
  });
  app.get("/work", (c) => c.json({ ok: true }));
  app.get("/fail", (c) => c.json({ ok: false }, 500));
  return app;
}

/** Sends `count` requests to `path` of an isolate and waits for its waitUntil work (the metric flushes). */
async function serve(app: ReturnType<typeof isolateOf>, path: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const ctx = createExecutionContext();
    const res = await app.request(path, {}, env, ctx);
    await res.arrayBuffer();
    await waitOnExecutionContext(ctx);
  }
}

const requestsOf = (service: string, route: string, status = "200") => ({ method: "GET", route, service, status });
const aggregatorOf = (isolate: string) => env.METRICS_AGGREGATOR.get(env.METRICS_AGGREGATOR.idFromName(shardName(isolate, 1)));
const counterBatch = (service: string, isolate: string, seq: number, value: number): MetricsBatch => ({
  service,
  isolate,
  seq,
  families: [{ type: "counter", name: "foundation_jobs_total", help: "Jobs done", samples: [{ labels: { kind: "x" }, value }] }],
});

describe("metrics aggregated across isolates", () => {
  it("serves the exact sum of the requests that three isolates of one service handled", async () => {
    const service = unique("agg");
    const isolates = [isolateOf(service), isolateOf(service), isolateOf(service)];
    await serve(isolates[0]!, "/work", 7);
    await serve(isolates[1]!, "/work", 5);
    await serve(isolates[2]!, "/work", 4);
    await serve(isolates[1]!, "/fail", 2);
    const text = await scrape();
    expect(valueOf(text, "foundation_http_requests_total", requestsOf(service, "/work"))).toBe(16);
    expect(valueOf(text, "foundation_http_requests_total", requestsOf(service, "/fail", "500"))).toBe(2);
    const latency = { method: "GET", route: "/work", service };
    expect(valueOf(text, "foundation_http_request_duration_seconds_count", latency)).toBe(16);
    expect(valueOf(text, "foundation_http_request_duration_seconds_bucket", { ...latency, le: "+Inf" })).toBe(16);
    expect(valueOf(text, "foundation_http_request_duration_seconds_bucket", { ...latency, le: "10" })).toBe(16);
  });

  it("keeps counting from the stored total when isolates are replaced and the aggregator restarts", async () => {
    const service = unique("restart");
    await serve(isolateOf(service), "/work", 6);
    await abortAllDurableObjects();
    await serve(isolateOf(service), "/work", 3);
    expect(valueOf(await scrape(), "foundation_http_requests_total", requestsOf(service, "/work"))).toBe(9);
  });

  it("does not count a batch twice when it is sent again after its acknowledgement was lost", async () => {
    const service = unique("retry");
    const registry = new MetricsRegistry();
    const jobs = registry.counter("foundation_jobs_total", "Jobs done");
    const pusher = new MetricsPusher(registry, service);
    let loseAcknowledgement = true;
    const flaky: MetricsSink = async (batch) => {
      await aggregatorOf(batch.isolate).ingest(batch);
      if (loseAcknowledgement) throw new Error("connection reset after the aggregator applied the batch");
    };
    jobs.inc({ kind: "x" }, 4);
    await expect(pusher.flush(flaky)).rejects.toThrow("connection reset");
    jobs.inc({ kind: "x" }, 1);
    loseAcknowledgement = false;
    await pusher.flush(flaky);
    expect(valueOf(await scrape(), "foundation_jobs_total", { kind: "x", service })).toBe(5);
  });

  it("answers a replayed batch as a duplicate over RPC and over HTTP, and applies it once", async () => {
    const service = unique("replay");
    const isolate = crypto.randomUUID();
    const batch = counterBatch(service, isolate, 1, 3);
    expect(await aggregatorOf(isolate).ingest(batch)).toEqual({ duplicate: false, conflicts: [], dropped: 0 });
    expect(await aggregatorOf(isolate).ingest(batch)).toEqual({ duplicate: true, conflicts: [], dropped: 0 });
    const send = async (b: MetricsBatch) =>
      SELF.fetch("http://gw.test/api/foundation/metrics", {
        method: "POST",
        headers: { authorization: `Bearer ${await token("service", service)}`, "content-type": "application/json" },
        body: JSON.stringify(b),
      });
    const replayed = await send(batch);
    expect(replayed.status).toBe(200);
    expect(await replayed.json()).toEqual({ duplicate: true, conflicts: [], dropped: 0 });
    expect(await (await send(counterBatch(service, isolate, 2, 2))).json()).toMatchObject({ duplicate: false });
    expect(valueOf(await scrape(), "foundation_jobs_total", { kind: "x", service })).toBe(5);
  });

  it("takes a service's batches over HTTP with its service token, as a worker without the binding sends them", async () => {
    const service = unique("http");
    const registry = new MetricsRegistry();
    registry.counter("foundation_jobs_total", "Jobs done").inc({ kind: "x" }, 11);
    const sink = httpSink("http://gw.test", await token("service", service), (req) => SELF.fetch(req));
    await new MetricsPusher(registry, service).flush(sink);
    expect(valueOf(await scrape(), "foundation_jobs_total", { kind: "x", service })).toBe(11);
  });

  it("refuses batches that speak for another service (forged service or label), without a token, or malformed", async () => {
    const service = unique("forge");
    const post = async (body: unknown, auth?: string) =>
      SELF.fetch("http://gw.test/api/foundation/metrics", {
        method: "POST",
        headers: { "content-type": "application/json", ...(auth ? { authorization: `Bearer ${auth}` } : {}) },
        body: JSON.stringify(body),
      });
    const own = await token("service", service);
    expect((await post(counterBatch("gateway", crypto.randomUUID(), 1, 1), own)).status).toBe(403);
    const forgedLabel = counterBatch(service, crypto.randomUUID(), 1, 1);
    forgedLabel.families[0]!.samples[0]!.labels.service = "gateway";
    expect((await post(forgedLabel, own)).status).toBe(403);
    expect((await post(counterBatch(service, crypto.randomUUID(), 1, 1))).status).toBe(401);
    expect((await post(counterBatch(service, crypto.randomUUID(), 1, 1), await token("read", service))).status).toBe(403);
    const negative = counterBatch(service, crypto.randomUUID(), 1, -1);
    const res = await post(negative, own);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ type: "/problems/validation-error" });
  });

  it("keeps the gauge value set last and merges histograms of different isolates bucket by bucket", async () => {
    const service = unique("mixed");
    const [a, b] = [new MetricsRegistry(), new MetricsRegistry()];
    const sink: MetricsSink = async (batch) => void (await aggregatorOf(batch.isolate).ingest(batch));
    a.histogram("foundation_job_seconds", "Job time", [0.1, 1]).observe({}, 0.05);
    b.histogram("foundation_job_seconds", "Job time", [0.1, 1]).observe({}, 0.5);
    b.gauge("foundation_queue_depth", "Depth").set({}, 12);
    await new MetricsPusher(b, service).flush(sink);
    await new Promise((r) => setTimeout(r, 5));
    a.gauge("foundation_queue_depth", "Depth").set({}, 3);
    await new MetricsPusher(a, service).flush(sink);
    const text = await scrape();
    expect(valueOf(text, "foundation_queue_depth", { service })).toBe(3);
    expect(valueOf(text, "foundation_job_seconds_bucket", { service, le: "0.1" })).toBe(1);
    expect(valueOf(text, "foundation_job_seconds_bucket", { service, le: "1" })).toBe(2);
    expect(valueOf(text, "foundation_job_seconds_count", { service })).toBe(2);
  });

  it("reports the registry's instances by status at scrape time", async () => {
    const service = unique("inst");
    const registry = new RegistryClient(env, { cache: new RegistryCache() });
    const reg = await registry.register({ name: service, url: `https://a.${service}.example.com/`, version: "1", ttlSeconds: 3600 });
    if (!reg.ok) throw new Error("registration refused");
    await registry.register({ name: service, url: `https://b.${service}.example.com/`, version: "1", ttlSeconds: 3600 });
    await registry.heartbeat(service, reg.instanceId, { status: "critical", output: "disk full" });
    const text = await scrape();
    expect(valueOf(text, "foundation_registry_instances", { service, status: "passing" })).toBe(1);
    expect(valueOf(text, "foundation_registry_instances", { service, status: "critical" })).toBe(1);
    expect(valueOf(text, "foundation_registry_instances", { service, status: "warning" })).toBe(0);
  });

  it("asks for the bearer token when METRICS_TOKEN is set", async () => {
    const app = isolateOf(unique("locked"));
    const locked = { ...env, METRICS_TOKEN: "s3cret" };
    expect((await app.request("/metrics", {}, locked)).status).toBe(401);
    const ok = await app.request("/metrics", { headers: { authorization: "Bearer s3cret" } }, locked);
    expect(ok.status).toBe(200);
    expect(ok.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8");
  });
});
