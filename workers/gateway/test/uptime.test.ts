import { createExecutionContext, createScheduledController, env, SELF, waitOnExecutionContext } from "cloudflare:test";
import { createDb, healthChecks } from "@foundation/db";
import { RegistryClient } from "@foundation/registry";
import { and, eq, lt } from "drizzle-orm";
import { describe, expect, inject, it } from "vitest";
import worker from "../src/index.ts";
import { configFrom } from "../src/config.ts";
import { runUptimeChecks } from "../src/uptime/checks.ts";
import { pruneProbes } from "../src/uptime/store.ts";
import { DEFAULT_HEALTH_CHECK_RETENTION_DAYS, probeTarget, retentionCutoff } from "../src/uptime/uptime.ts";
import { token } from "./auth.ts";

const upstreams = inject("upstreams");
const registry = new RegistryClient(env);
const unique = (prefix: string) => `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;

/** Sets how the fixture server answers the scenario's requests (see upstream-fixture.ts). */
async function behave(scenario: string, behaviour: { status?: number; headers?: Record<string, string>; hang?: boolean }): Promise<void> {
  const res = await fetch(`${upstreams.a}/_fixture/${scenario}`, { method: "PUT", body: JSON.stringify(behaviour) });
  expect(res.ok).toBe(true);
}

async function registered(input: { name: string; url?: string; binding?: string; metadata?: Record<string, string> }): Promise<string> {
  const result = await registry.register({ version: "1.0.0", ttlSeconds: 600, ...input });
  if (!result.ok) throw new Error(`registration failed: ${JSON.stringify(result)}`);
  return result.instanceId;
}

const rowsOf = (service: string, id: string) =>
  createDb(env)
    .select()
    .from(healthChecks)
    .where(eq(healthChecks.target, probeTarget(service, id)))
    .orderBy(healthChecks.checkedAt);

/** Writes probe rows of `target` checked at each of `times`, as past cron runs would have. */
async function history(target: string, times: readonly number[]): Promise<void> {
  await createDb(env)
    .insert(healthChecks)
    .values(times.map((t) => ({ checkedAt: new Date(t), target, ok: true, latencyMs: 1, detail: "HTTP 200" })));
}

const timesOf = async (target: string) =>
  (await createDb(env).select().from(healthChecks).where(eq(healthChecks.target, target)).orderBy(healthChecks.checkedAt)).map((r) =>
    r.checkedAt.getTime(),
  );

describe("uptime checks", () => {
  it("probes binding and URL instances' /health, fails errors, redirects and timeouts, and stores every result", async () => {
    const service = unique("up");
    const ids = {
      binding: await registered({ name: service, binding: "EXAMPLE" }),
      ok: await registered({ name: service, url: `${upstreams.a}/${service}-ok/` }),
      down: await registered({ name: service, url: `${upstreams.a}/${service}-down/` }),
      moved: await registered({ name: service, url: `${upstreams.a}/${service}-moved/` }),
      hung: await registered({ name: service, url: `${upstreams.a}/${service}-hung/` }),
    };
    await behave(`${service}-down`, { status: 503 });
    await behave(`${service}-moved`, { status: 302, headers: { location: "https://example.com/health" } });
    await behave(`${service}-hung`, { hang: true });
    const at = Date.now() - 1000;
    const results = await runUptimeChecks(env, { services: [service], timeoutMs: 500, now: () => at });
    const byId = new Map(results.map((r) => [r.instanceId, r]));
    expect(byId.get(ids.binding)).toMatchObject({ ok: true, detail: "HTTP 200", checkedAt: at });
    expect(byId.get(ids.ok)).toMatchObject({ ok: true, detail: "HTTP 200" });
    expect(byId.get(ids.down)).toMatchObject({ ok: false, detail: "HTTP 503" });
    expect(byId.get(ids.moved)).toMatchObject({ ok: false, detail: "HTTP 302: redirect not followed" });
    expect(byId.get(ids.hung)).toMatchObject({ ok: false, detail: "no answer within 500 ms" });
    const seen = await fetch(`${upstreams.a}/_fixture/${service}-ok`).then((r) =>
      r.json<{ requests: { method: string; path: string }[] }>(),
    );
    expect(seen.requests).toEqual([expect.objectContaining({ method: "GET", path: `/${service}-ok/health` })]);
    for (const [name, id] of Object.entries(ids)) {
      const rows = await rowsOf(service, id);
      expect(rows, name).toHaveLength(1);
      expect(rows[0]).toMatchObject({ ok: byId.get(id)?.ok, checkedAt: new Date(at) });
    }
    await registry.deregister(service, ids.hung);
  });

  it("reports uptime over 24 h, 7 d and 30 d from probes taken at injected times", async () => {
    const service = unique("upw");
    const id = await registered({ name: service, url: `${upstreams.a}/${service}/` });
    const now = Date.now();
    const probeAt = (t: number) => runUptimeChecks(env, { services: [service], now: () => t });
    await behave(service, { status: 500 });
    await probeAt(now - 20 * 24 * HOUR);
    await probeAt(now - 3 * 24 * HOUR);
    await behave(service, { status: 200 });
    await probeAt(now - 6 * 24 * HOUR);
    await probeAt(now - 2 * HOUR);
    await probeAt(now - 1 * HOUR);
    await probeAt(now - 40 * 24 * HOUR);

    const res = await SELF.fetch("http://gateway.local/api/foundation/uptime", {
      headers: { authorization: `Bearer ${await token("read")}` },
    });
    expect(res.status).toBe(200);
    const { instances } = await res.json<{ instances: Record<string, unknown>[] }>();
    expect(instances.find((i) => i.instanceId === id)).toEqual({
      service,
      instanceId: id,
      uptime24h: 1,
      uptime7d: 0.75,
      uptime30d: 0.6,
      lastCheckAt: new Date(now - HOUR).toISOString(),
      lastOk: true,
    });
  });

  it("refuses GET /api/foundation/uptime without a token", async () => {
    expect((await SELF.fetch("http://gateway.local/api/foundation/uptime")).status).toBe(401);
  });

  it("heartbeats only instances registered with probe: gateway: critical on a failed probe, passing again after", async () => {
    const service = unique("upp");
    const probed = await registered({ name: service, url: `${upstreams.a}/${service}-p/`, metadata: { probe: "gateway" } });
    const selfReporting = await registered({ name: service, url: `${upstreams.a}/${service}-s/` });
    await behave(`${service}-p`, { status: 503 });
    await behave(`${service}-s`, { status: 503 });
    await runUptimeChecks(env, { services: [service] });
    const statusOf = async (id: string) => (await new RegistryClient(env).discover(service)).instances.find((i) => i.id === id);
    expect(await statusOf(probed)).toMatchObject({ status: "critical", output: "gateway probe of /health: HTTP 503" });
    expect(await statusOf(selfReporting)).toMatchObject({ status: "passing", output: null });
    await behave(`${service}-p`, { status: 200 });
    await runUptimeChecks(env, { services: [service] });
    expect(await statusOf(probed)).toMatchObject({ status: "passing", output: "gateway probe of /health: HTTP 200" });
  });

  it("deletes probes older than the retention (30 days by default) on each run and keeps the younger ones", async () => {
    expect(configFrom(env).healthCheckRetentionDays).toBe(DEFAULT_HEALTH_CHECK_RETENTION_DAYS);
    const target = probeTarget(unique("upr"), "i-1");
    const now = Date.now();
    const kept = [now - 30 * DAY + HOUR, now - 7 * DAY, now - HOUR];
    await history(target, [now - 400 * DAY, now - 31 * DAY, now - 30 * DAY - 1000, ...kept]);
    await runUptimeChecks(env, { services: [], now: () => now });
    expect(await timesOf(target)).toEqual(kept);

    await runUptimeChecks(env, { services: [], now: () => now, retentionDays: 2 });
    expect(await timesOf(target)).toEqual([now - HOUR]);
  });

  it("deletes at most a batch of expired probes per run, so a backlog goes over several runs", async () => {
    const target = probeTarget(unique("upb"), "i-1");
    const now = Date.now();
    const cutoff = retentionCutoff(now, DEFAULT_HEALTH_CHECK_RETENTION_DAYS);
    await history(target, [...Array.from({ length: 25 }, (_, i) => now - 60 * DAY - i * HOUR), now - HOUR]);
    const expired = async () =>
      (
        await createDb(env)
          .select()
          .from(healthChecks)
          .where(and(eq(healthChecks.target, target), lt(healthChecks.checkedAt, new Date(cutoff))))
      ).length;
    // Other tests' old probes may be deleted by the same statements, so each run is counted, not its victims.
    const deleted = [await pruneProbes(env, cutoff, 10)];
    expect(deleted).toEqual([10]);
    expect(await expired()).toBeGreaterThanOrEqual(15);
    while (deleted.at(-1) === 10) deleted.push(await pruneProbes(env, cutoff, 10));
    expect(deleted.length).toBeGreaterThanOrEqual(3);
    expect(Math.max(...deleted)).toBe(10);
    expect(await expired()).toBe(0);
    expect(await timesOf(target)).toEqual([now - HOUR]);
  });

  it("runs from the gateway's cron trigger, next to the kit's own scheduled work", async () => {
    const service = unique("upc");
    const id = await registered({ name: service, binding: "EXAMPLE" });
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController({ cron: "* * * * *" }), env, ctx);
    await waitOnExecutionContext(ctx);
    const rows = await rowsOf(service, id);
    expect(rows).toEqual([expect.objectContaining({ ok: true, detail: "HTTP 200" })]);
  });
});
