import { env, runDurableObjectAlarm } from "cloudflare:test";
import { createDb, instanceStatusChanges, serviceInstances } from "@foundation/db";
import { RegistryCache, RegistryClient, type HealthStatus } from "@foundation/registry";
import { and, eq, isNull } from "drizzle-orm";
import { afterEach, describe, expect, it } from "vitest";
import { stackControl } from "./stack.ts";

const registryOf = (name: string) => env.SERVICE_REGISTRY.get(env.SERVICE_REGISTRY.idFromName(name));
const registry = new RegistryClient(env, { cache: new RegistryCache() });

/** Registers instance `n` of `name` (over RPC: the HTTP path is covered by registry-api.test.ts). */
async function register(name: string, n: number): Promise<string> {
  const r = await registry.register({ name, url: `https://i${n}.${name}.example.com/`, version: "1.0.0", ttlSeconds: 3600 });
  if (!r.ok) throw new Error(`registration ${n} refused: ${JSON.stringify(r)}`);
  return r.instanceId;
}

async function heartbeat(name: string, id: string, status: HealthStatus, output?: string): Promise<void> {
  const r = await registry.heartbeat(name, id, output === undefined ? { status } : { status, output });
  if (!r.ok) throw new Error(`heartbeat of ${id} refused: ${JSON.stringify(r)}`);
}

/** Runs `tasks` with at most `width` in flight, in order of start. */
async function pool<T>(width: number, tasks: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = new Array<T>(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < tasks.length) {
        const i = next++;
        results[i] = await tasks[i]!();
      }
    }),
  );
  return results;
}

/** Runs the object's alarm until its outbox is empty; the first tries may meet a Postgres still coming back. */
async function drainOutbox(name: string): Promise<number> {
  const stub = registryOf(name);
  for (let attempt = 1; attempt <= 40; attempt++) {
    await runDurableObjectAlarm(stub);
    await stub.flush();
    const { outbox } = await stub.state();
    if (outbox.instances + outbox.changes === 0) return attempt;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the outbox of ${name} did not drain`);
}

/** Asserts that Postgres holds exactly the instances the object holds, field by field, and the same status history size. */
async function expectPostgresMatches(name: string, expectedChanges: number): Promise<void> {
  const db = createDb(env);
  const state = await registryOf(name).state();
  const rows = await db
    .select()
    .from(serviceInstances)
    .where(and(eq(serviceInstances.service, name), isNull(serviceInstances.deregisteredAt)));
  const fromDb = rows
    .map((r) => ({
      id: r.instanceId,
      url: r.url,
      version: r.version,
      status: r.status,
      output: r.output,
      lastHeartbeatAt: r.lastHeartbeatAt.getTime(),
      criticalSince: r.criticalSince?.getTime() ?? null,
      revision: r.revision,
    }))
    .sort((a, b) => a.id.localeCompare(b.id));
  const fromObject = state.instances.map((i) => ({
    id: i.id,
    url: i.url ?? null,
    version: i.version,
    status: i.status,
    output: i.output,
    lastHeartbeatAt: i.lastHeartbeatAt,
    criticalSince: i.criticalSince,
    revision: i.revision,
  }));
  expect(fromDb).toEqual(fromObject);
  const history = await db.select().from(instanceStatusChanges).where(eq(instanceStatusChanges.service, name));
  expect(history).toHaveLength(expectedChanges);
}

describe("registry write-through to Postgres", () => {
  afterEach(async () => {
    await stackControl("postgres/start");
  });

  it("holds the same rows as the Durable Object after a burst of 200 registrations and heartbeats", { timeout: 60_000 }, async () => {
    const name = `burst-${crypto.randomUUID().slice(0, 8)}`;
    const statuses: HealthStatus[] = ["passing", "warning", "critical"];
    const ids = await pool(
      20,
      Array.from({ length: 200 }, (_, n) => () => register(name, n)),
    );
    await pool(
      20,
      ids.map((id, n) => () => heartbeat(name, id, statuses[n % 3]!, `check ${n}`)),
    );
    await drainOutbox(name);
    // 200 registrations, then 133 heartbeats that moved an instance to warning or critical.
    await expectPostgresMatches(name, 200 + 133);
  });

  it("keeps registering while Postgres is down, never drops a write, and catches up once it is back", { timeout: 90_000 }, async () => {
    const name = `outage-${crypto.randomUUID().slice(0, 8)}`;
    const first = await pool(
      10,
      Array.from({ length: 100 }, (_, n) => () => register(name, n)),
    );
    await pool(
      10,
      first.map((id) => () => heartbeat(name, id, "warning")),
    );

    // Nothing in flight when PostgreSQL stops: the local stack's Neon endpoint does not yet survive a pooled
    // connection that PostgreSQL terminates in the middle of a transaction (it crashes the test process).
    await drainOutbox(name);
    await stackControl("postgres/stop");
    const second = await pool(
      10,
      Array.from({ length: 100 }, (_, n) => () => register(name, 100 + n)),
    );
    await pool(
      10,
      first.slice(0, 50).map((id) => () => heartbeat(name, id, "critical")),
    );

    const stub = registryOf(name);
    await stub.flush();
    const failed = await stub.flush();
    expect(failed.ok).toBe(false);
    const down = await stub.state();
    expect(down.instances).toHaveLength(200);
    expect(down.outbox.instances).toBeGreaterThan(0);
    expect(down.outbox.failures).toBeGreaterThanOrEqual(1);
    expect(down.alarmAt).not.toBeNull();
    expect(down.alarmAt!).toBeLessThanOrEqual(down.outbox.retryAt!);
    expect((await registry.discover(name)).instances).toHaveLength(200);

    await Promise.all([
      stackControl("postgres/start"),
      pool(
        10,
        [...first.slice(0, 50), ...second].map((id) => () => heartbeat(name, id, "critical")),
      ),
    ]);
    await drainOutbox(name);
    // 200 registrations, 100 moves to warning, then 150 moves to critical.
    await expectPostgresMatches(name, 200 + 100 + 150);
    expect((await stub.state()).outbox).toMatchObject({ failures: 0, retryAt: null });
  });
});
