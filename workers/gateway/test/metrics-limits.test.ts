import { abortAllDurableObjects, env, runInDurableObject, SELF } from "cloudflare:test";
import { IDLE_SERIES_TTL_MS, MAX_SERIES_PER_SERVICE, type MetricsAggregator } from "@foundation/monitoring";
import { aggregatorSink, pusherOf, workerMetrics, type Labels, type MetricFamily, type MetricsBatch } from "@foundation/service-kit";
import { afterEach, describe, expect, it, vi } from "vitest";
import { app } from "../src/app.ts";
import { dashboardState } from "../src/dashboard/snapshot.ts";
import { token } from "./auth.ts";

const unique = (prefix: string) => `${prefix}-${crypto.randomUUID().slice(0, 8)}`;

/** An aggregator object of this test alone: the caps are per object, and the scraped shards stay small. */
const freshAggregator = () => env.METRICS_AGGREGATOR.get(env.METRICS_AGGREGATOR.idFromName(unique("limits")));

/** A counter family with `count` series, `route="/<from + i>"`. */
function routes(name: string, count: number, from = 0): MetricFamily {
  const samples = Array.from({ length: count }, (_, i) => ({ labels: { route: `/${from + i}` }, value: 1 }));
  return { type: "counter", name, help: "Requests", samples };
}

const batch = (service: string, isolate: string, seq: number, families: MetricFamily[]): MetricsBatch => ({
  service,
  isolate,
  seq,
  families,
});

/** The rows of the object's `series` table: what it keeps across restarts. */
const storedKeys = (stub: DurableObjectStub<MetricsAggregator>) =>
  runInDurableObject(stub, (_, state) =>
    state.storage.sql
      .exec<{ key: string }>("SELECT key FROM series ORDER BY key")
      .toArray()
      .map((r) => r.key),
  );

describe("metrics aggregator limits", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("gives each service its own share of the series: a service token flooding the aggregator leaves room for every other", async () => {
    const stub = freshAggregator();
    const mallory = unique("mallory");
    const isolate = crypto.randomUUID();
    let dropped = 0;
    for (let seq = 1; seq <= 5; seq++) {
      const result = await stub.ingest(batch(mallory, isolate, seq, [routes("foundation_flood_total", 10_000, (seq - 1) * 10_000)]));
      dropped += result.dropped;
    }
    expect(dropped).toBe(50_000 - MAX_SERIES_PER_SERVICE);
    const billing = unique("billing");
    expect(await stub.ingest(batch(billing, crypto.randomUUID(), 1, [routes("foundation_http_requests_total", 3)]))).toEqual({
      duplicate: false,
      conflicts: [],
      dropped: 0,
    });
    const families = await stub.families();
    const count = (service: string) =>
      families.flatMap((f): { labels: Labels }[] => f.samples).filter((s) => s.labels.service === service).length;
    expect([count(mallory), count(billing)]).toEqual([MAX_SERIES_PER_SERVICE, 3]);
  });

  it("drops counter series no batch carried for a day, from memory and storage, and keeps the ones still sent", async () => {
    const stub = freshAggregator();
    const service = unique("idle");
    const isolate = crypto.randomUUID();
    const start = Date.now();
    vi.useFakeTimers({ toFake: ["Date"], now: start });
    await stub.ingest(batch(service, isolate, 1, [routes("foundation_jobs_total", 2)]));
    vi.setSystemTime(start + IDLE_SERIES_TTL_MS - 60_000);
    await stub.ingest(batch(service, isolate, 2, [routes("foundation_jobs_total", 1, 1)]));
    expect((await stub.families())[0]?.samples).toHaveLength(2);
    vi.setSystemTime(start + IDLE_SERIES_TTL_MS + 60_000);
    expect((await stub.families())[0]?.samples).toEqual([{ labels: { route: "/1", service }, value: 2 }]);
    expect(await storedKeys(stub)).toEqual([`route="/1",service="${service}"`]);
  });

  it("restarts on series stored before owners and update times were kept, and keeps both from the next batch on", async () => {
    const id = env.METRICS_AGGREGATOR.idFromName(unique("legacy"));
    const service = unique("legacy");
    await env.METRICS_AGGREGATOR.get(id).ingest(batch(service, crypto.randomUUID(), 1, [routes("foundation_jobs_total", 1)]));
    await runInDurableObject(env.METRICS_AGGREGATOR.get(id), (_, state) => {
      state.storage.sql.exec("ALTER TABLE series DROP COLUMN owner");
      state.storage.sql.exec("ALTER TABLE series DROP COLUMN updated_at");
    });
    await abortAllDurableObjects();
    const restarted = env.METRICS_AGGREGATOR.get(id);
    expect((await restarted.families())[0]?.samples).toEqual([{ labels: { route: "/0", service }, value: 1 }]);
    await restarted.ingest(batch(service, crypto.randomUUID(), 1, [routes("foundation_jobs_total", 1)]));
    const rows = await runInDurableObject(restarted, (_, state) =>
      state.storage.sql.exec<{ owner: string; updated_at: number }>("SELECT owner, updated_at FROM series").toArray(),
    );
    expect(rows).toEqual([{ owner: service, updated_at: expect.any(Number) as number }]);
  });

  it("shows on the dashboard the rate-limit rejections of the gateway's own quotas only, never ones another service sends", async () => {
    const quota = unique("own");
    const policies = [
      { name: quota, path: "/api/example/", policy: { algorithm: "fixed-window", limit: 1, windowMs: 3_600_000 }, failMode: "open" },
    ];
    const bindings = { ...env, RATE_LIMIT_POLICIES: JSON.stringify(policies) };
    const ip = { "cf-connecting-ip": "198.51.100.61" };
    expect((await app.request("/api/example/hello", { headers: ip }, bindings)).status).toBe(200);
    expect((await app.request("/api/example/hello", { headers: ip }, bindings)).status).toBe(429);
    await pusherOf(workerMetrics, "gateway").flush(aggregatorSink(env.METRICS_AGGREGATOR, 1));

    const mallory = unique("mallory");
    const forged: MetricFamily = {
      type: "counter",
      name: "foundation_ratelimit_decisions_total",
      help: "Rate-limit decisions by quota and outcome",
      samples: [{ labels: { quota: "forged", outcome: "denied" }, value: 1_000_000 }],
    };
    const res = await SELF.fetch("http://gw.test/api/foundation/metrics", {
      method: "POST",
      headers: { authorization: `Bearer ${await token("service", mallory)}`, "content-type": "application/json" },
      body: JSON.stringify(batch(mallory, crypto.randomUUID(), 1, [forged])),
    });
    expect(await res.json()).toEqual({ duplicate: false, conflicts: [], dropped: 0 });

    const { rateLimitRejections } = await dashboardState(env);
    expect(rateLimitRejections).toContainEqual({ labels: { quota }, value: 1 });
    expect(rateLimitRejections?.map((r) => r.labels.quota)).not.toContain("forged");
  });
});
