import { createExecutionContext, createScheduledController, env, runDurableObjectAlarm, runInDurableObject, SELF } from "cloudflare:test";
import { DIRECTORY_NAME, HttpRegistryClient, RegistryCache, RegistryClient, type RegistrationRequest } from "@foundation/registry";
import { createService } from "@foundation/service-kit";
import { describe, expect, it } from "vitest";
import { token } from "./auth.ts";

const unique = (prefix: string) => `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
const registryOf = (name: string) => env.SERVICE_REGISTRY.get(env.SERVICE_REGISTRY.idFromName(name));
const directory = () => env.SERVICE_DIRECTORY.get(env.SERVICE_DIRECTORY.idFromName(DIRECTORY_NAME));
const client = () => new RegistryClient(env, { cache: new RegistryCache() });
const instanceOf = (name: string, n = 1, extra: Partial<RegistrationRequest> = {}): RegistrationRequest => ({
  name,
  url: `https://i${n}.${name}.example.com/`,
  version: "1.0.0",
  // Long enough that no alarm of a real-time test writes to Postgres while another test stops it.
  ttlSeconds: 3600,
  ...extra,
});
/** Injected times a day ahead of the clock, so the object's real alarms never fire during a test. */
const future = () => Date.now() + 86_400_000;

describe("ServiceRegistry: register, discover, heartbeat", () => {
  it("registers an instance, discovers it, and records the status its heartbeats report", async () => {
    const name = unique("billing");
    const registry = client();
    const reg = await registry.register(instanceOf(name, 1, { metadata: { zone: "eu-1" } }));
    expect(reg).toMatchObject({ ok: true, created: true, heartbeatIntervalSeconds: 1200 });
    if (!reg.ok) return;

    const found = await registry.discover(name);
    expect(found.instances).toEqual([
      expect.objectContaining({
        id: reg.instanceId,
        url: `https://i1.${name}.example.com/`,
        status: "passing",
        metadata: { zone: "eu-1" },
      }),
    ]);

    const beat = await registry.heartbeat(name, reg.instanceId, { status: "warning", output: "p99 above 2 s" });
    expect(beat).toMatchObject({ ok: true, instance: { status: "warning", output: "p99 above 2 s" } });
    expect((await registry.discover(name)).instances[0]).toMatchObject({ status: "warning", output: "p99 above 2 s" });
    expect((await registry.discover(name, { passing: true })).instances).toEqual([]);
  });

  it("treats a second registration at the same address as the same instance", async () => {
    const name = unique("orders");
    const registry = client();
    const first = await registry.register(instanceOf(name));
    const again = await registry.register(instanceOf(name, 1, { version: "1.1.0" }));
    expect(again).toMatchObject({ ok: true, created: false, instanceId: first.ok ? first.instanceId : "" });
    const { instances } = await registry.discover(name);
    expect(instances.map((i) => i.version)).toEqual(["1.1.0"]);
  });

  it("answers not-found to a heartbeat or deregistration of an unknown instance, and lookups of unknown services are empty", async () => {
    const name = unique("ghost");
    const registry = client();
    expect(await registry.heartbeat(name, crypto.randomUUID())).toEqual({ ok: false, error: "not-found" });
    expect(await registry.deregister(name, crypto.randomUUID())).toEqual({ ok: false, error: "not-found" });
    expect(await registry.discover(name)).toEqual({ name, instances: [] });
    await runInDurableObject(registryOf(name), async (_o, state) => {
      expect(state.storage.sql.databaseSize).toBeLessThan(8192);
      expect(await state.storage.getAlarm()).toBeNull();
    });
  });
});

describe("ServiceRegistry: TTL, critical, deregistration (injected time)", () => {
  it("keeps an instance passing until its TTL, critical after it, and deregisters it only after the delay", async () => {
    const name = unique("ttl");
    const stub = registryOf(name);
    const t0 = future();
    const reg = await stub.register(instanceOf(name, 1, { ttlSeconds: 10, deregisterAfterSeconds: 60 }), t0);
    if (!reg.ok) throw new Error("registration refused");

    expect((await stub.service(name, t0 + 9_999)).instances[0]?.status).toBe("passing");
    expect((await stub.service(name, t0 + 10_000)).instances[0]).toMatchObject({
      status: "critical",
      output: "TTL expired: no heartbeat within 10 s",
    });

    let state = await stub.tick(t0 + 9_999);
    expect(state.instances[0]).toMatchObject({ status: "passing", criticalSince: null });
    expect(state.outbox).toMatchObject({ instances: 0, changes: 0 });
    expect(state.alarmAt).toBe(t0 + 10_000);

    state = await stub.tick(t0 + 10_000);
    expect(state.instances[0]).toMatchObject({ status: "critical", criticalSince: t0 + 10_000 });
    state = await stub.tick(t0 + 10_000 + 59_999);
    expect(state.instances).toHaveLength(1);
    expect((await stub.service(name, t0 + 10_000 + 59_999)).instances).toHaveLength(1);
    expect(await directory().names()).toContain(name);

    state = await stub.tick(t0 + 70_000);
    expect(state.instances).toEqual([]);
    expect((await stub.service(name, t0 + 70_000)).instances).toEqual([]);
    expect(await directory().names()).not.toContain(name);
  });

  it("brings an instance back with a late heartbeat, and the TTL starts again from it", async () => {
    const name = unique("late");
    const stub = registryOf(name);
    const t0 = future();
    const reg = await stub.register(instanceOf(name, 1, { ttlSeconds: 10 }), t0);
    if (!reg.ok) throw new Error("registration refused");
    expect((await stub.tick(t0 + 20_000)).instances[0]?.status).toBe("critical");

    const beat = await stub.heartbeat(name, reg.instanceId, {}, t0 + 25_000);
    expect(beat).toMatchObject({ ok: true, instance: { status: "passing", criticalSince: null } });
    expect((await stub.tick(t0 + 25_000 + 9_999)).instances[0]?.status).toBe("passing");
    expect((await stub.service(name, t0 + 35_000)).instances[0]?.status).toBe("critical");
  });

  it("answers not-found to a heartbeat after the deregister delay, so the instance registers again", async () => {
    const name = unique("gone");
    const stub = registryOf(name);
    const t0 = future();
    const reg = await stub.register(instanceOf(name, 1, { ttlSeconds: 10, deregisterAfterSeconds: 60 }), t0);
    if (!reg.ok) throw new Error("registration refused");
    expect(await stub.heartbeat(name, reg.instanceId, {}, t0 + 70_000)).toEqual({ ok: false, error: "not-found" });
    expect((await stub.state()).instances).toEqual([]);
  });

  it("leaves the same state when the alarm's work runs twice at the same time", async () => {
    const name = unique("twice");
    const stub = registryOf(name);
    const t0 = future();
    await stub.register(instanceOf(name, 1, { ttlSeconds: 10 }), t0);
    await stub.register(instanceOf(name, 2, { ttlSeconds: 20 }), t0);
    const once = await stub.tick(t0 + 15_000);
    const twice = await stub.tick(t0 + 15_000);
    expect(twice).toEqual(once);
    expect(once.instances.map((i) => i.status).sort()).toEqual(["critical", "passing"]);
  });
});

describe("ServiceRegistry: alarms and eviction", () => {
  it("writes through from its alarm, and running the alarm again (early) changes nothing", async () => {
    const name = unique("alarm");
    const stub = registryOf(name);
    const reg = await stub.register(instanceOf(name, 1, { ttlSeconds: 3600 }));
    if (!reg.ok) throw new Error("registration refused");
    await runDurableObjectAlarm(stub);
    // The alarm set for "now" may already be running on its own; flush() joins a write in progress.
    await stub.flush();
    const first = await stub.state();
    expect(first.outbox).toMatchObject({ instances: 0, changes: 0, failures: 0 });
    expect(first.alarmAt).toBe(first.instances[0]!.lastHeartbeatAt + 3_600_000);

    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await stub.state()).toEqual(first);
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    expect(await stub.state()).toEqual(first);
  });

  it("keeps every instance when the object is evicted", async () => {
    const name = unique("evict");
    const registry = client();
    for (let n = 1; n <= 5; n++) await registry.register(instanceOf(name, n));
    const before = await registryOf(name).state();
    await runInDurableObject(registryOf(name), (_o, state) => {
      state.abort("evicted by test");
    }).catch(() => undefined);
    const after = await registryOf(name).state();
    expect(after.instances).toEqual(before.instances);
    expect(after.revision).toBe(before.revision);
    expect((await registryOf(name).service(name)).instances).toHaveLength(5);
  });
});

describe("ServiceDirectory", () => {
  it("lists every service with instances and drops one whose last instance left", async () => {
    const a = unique("dir-a");
    const b = unique("dir-b");
    const registry = client();
    const ra = await registry.register(instanceOf(a));
    await registry.register(instanceOf(b));
    const names = (await registry.services()).map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining([a, b]));
    if (ra.ok) await registry.deregister(a, ra.instanceId);
    const after = (await registry.services()).map((s) => s.name);
    expect(after).toContain(b);
    expect(after).not.toContain(a);
  });

  it("keeps the newest report when reports arrive out of order", async () => {
    const name = unique("order");
    const dir = directory();
    expect(await dir.report(name, true, 5)).toBe(true);
    expect(await dir.report(name, false, 4)).toBe(false);
    expect(await dir.names()).toContain(name);
    await runInDurableObject(dir, (_o, state) => {
      state.abort("evicted by test");
    }).catch(() => undefined);
    expect(await directory().names()).toContain(name);
    expect(await directory().report(name, false, 6)).toBe(true);
    expect(await directory().names()).not.toContain(name);
  });
});

describe("discovery cache", () => {
  it("serves a change made by another isolate once the staleness bound has passed", async () => {
    const name = unique("stale");
    let now = Date.now();
    const cache = new RegistryCache({ maxStalenessMs: 1000, now: () => now });
    const reader = new RegistryClient(env, { cache, now: () => now });
    await client().register(instanceOf(name, 1));
    expect((await reader.discover(name)).instances).toHaveLength(1);
    await client().register(instanceOf(name, 2));
    expect((await reader.discover(name)).instances).toHaveLength(1);
    now += 1000;
    expect((await reader.discover(name)).instances).toHaveLength(2);
  });

  it("never offers a cached instance past its TTL", async () => {
    const name = unique("ttl-cache");
    const t0 = future();
    let now = t0;
    const reader = new RegistryClient(env, { cache: new RegistryCache({ maxStalenessMs: 3_600_000, now: () => now }), now: () => now });
    await registryOf(name).register(instanceOf(name, 1, { ttlSeconds: 5 }), t0);
    expect((await reader.discover(name, { passing: true })).instances).toHaveLength(1);
    now = t0 + 6_000;
    expect((await reader.discover(name, { passing: true })).instances).toEqual([]);
    expect((await reader.discover(name)).instances[0]?.status).toBe("critical");
  });
});

describe("service kit self-registration (cron trigger)", () => {
  it("registers the service on its first run and heartbeats the same instance on the next", async () => {
    const name = unique("kit");
    const app = createService<Env>({ name, version: "2.0.0", dependencies: { redis: false, postgres: false }, logSink: () => {} });
    const serviceEnv: Env & { SERVICE_URL: string } = { ...env, SERVICE_URL: `https://${name}.example.com/` };
    await app.scheduled(createScheduledController(), serviceEnv, createExecutionContext());
    const first = await client().discover(name);
    expect(first.instances).toEqual([expect.objectContaining({ status: "passing", version: "2.0.0", ttlMs: 180_000, output: null })]);

    await app.scheduled(createScheduledController(), serviceEnv, createExecutionContext());
    const second = await client().discover(name);
    expect(second.instances.map((i) => i.id)).toEqual(first.instances.map((i) => i.id));
    expect(second.instances[0]?.output).toBe("all checks passing");
    expect(second.instances[0]!.lastHeartbeatAt).toBeGreaterThanOrEqual(first.instances[0]!.lastHeartbeatAt);
  });

  it("reports critical when a required dependency is down, and registers again after being deregistered", async () => {
    const name = unique("kit-down");
    let up = false;
    const app = createService<Env>({
      name,
      version: "2.0.0",
      dependencies: { redis: false, postgres: false },
      checks: () => ({ ledger: { required: true, probe: async () => (up ? "ok" : Promise.reject(new Error("ledger unreachable"))) } }),
      logSink: () => {},
    });
    const serviceEnv: Env & { SERVICE_URL: string } = { ...env, SERVICE_URL: `https://${name}.example.com/` };
    await app.scheduled(createScheduledController(), serviceEnv, createExecutionContext());
    const down = (await client().discover(name)).instances[0];
    expect(down).toMatchObject({ status: "critical", output: "ledger: ledger unreachable" });

    await client().deregister(name, down!.id);
    up = true;
    await app.scheduled(createScheduledController(), serviceEnv, createExecutionContext());
    const back = (await client().discover(name)).instances;
    expect(back).toHaveLength(1);
    expect(back[0]).toMatchObject({ status: "passing" });
    expect(back[0]!.id).not.toBe(down!.id);
  });

  it("is refused (and logged) when the gateway has no binding named after the service", async () => {
    const name = unique("kit-nobinding");
    const lines: string[] = [];
    const app = createService<Env>({
      name,
      version: "1.0.0",
      dependencies: { redis: false, postgres: false },
      logSink: (l) => lines.push(l),
    });
    await app.scheduled(createScheduledController(), env, createExecutionContext());
    expect(lines.some((l) => l.includes('"action":"refused"') && l.includes("no service binding"))).toBe(true);
    expect((await client().discover(name)).instances).toEqual([]);
  });

  it("does nothing when turned off", async () => {
    const name = unique("kit-off");
    const app = createService<Env>({ name, version: "1.0.0", registry: false, logSink: () => {} });
    const serviceEnv: Env & { SERVICE_URL: string } = { ...env, SERVICE_URL: `https://${name}.example.com/` };
    await app.scheduled(createScheduledController(), serviceEnv, createExecutionContext());
    expect((await client().discover(name)).instances).toEqual([]);
  });
});

describe("HttpRegistryClient", () => {
  it("registers, heartbeats and deregisters through the gateway's HTTP API", async () => {
    const name = unique("http");
    const http = new HttpRegistryClient({
      baseUrl: "http://gw.test/api/foundation",
      token: await token("service", name),
      fetch: (r) => SELF.fetch(r),
    });
    const reg = await http.register(instanceOf(name));
    expect(reg).toMatchObject({ ok: true, created: true, heartbeatIntervalSeconds: 1200 });
    if (!reg.ok) return;
    expect(await http.heartbeat(name, reg.instanceId, { status: "warning" })).toMatchObject({ ok: true, instance: { status: "warning" } });
    expect(await http.register(instanceOf(name, 1, { ttlSeconds: 0 }))).toMatchObject({ ok: false, error: "invalid" });
    expect(await http.deregister(name, reg.instanceId)).toEqual({ ok: true });
    expect(await http.heartbeat(name, reg.instanceId)).toEqual({ ok: false, error: "not-found" });
  });
});
