/**
 * Deadlines of the workers' own on every outbound call: redis-server and PostgreSQL frozen with SIGSTOP (hung, not
 * refusing: the kernel still accepts connections and nothing answers) make the requests that need them answer 503
 * with `Retry-After` within the configured deadline, and after SIGCONT the stack recovers by itself with nothing lost.
 */
import { env, SELF } from "cloudflare:test";
import { DEFAULT_REDIS_TIMEOUT_MS, httpSink } from "@foundation/core";
import { DEFAULT_DATABASE_TIMEOUT_MS, withPool } from "@foundation/db";
import { HttpRegistryClient } from "@foundation/registry";
import { HttpProblem, redisFrom, verifyApiKey } from "@foundation/service-kit";
import { sql } from "drizzle-orm";
import { afterEach, describe, expect, inject, it } from "vitest";
import { token } from "./auth.ts";
import { stackControl } from "./stack.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** Two real HTTP servers on loopback that play instances (packages/local-stack/src/upstream-fixture.ts). */
    upstreams: { a: string; b: string };
  }
}

const api = "http://gw.test/api/foundation";
/** Room for the work around the deadline: the request itself, workerd's scheduling and a loaded 2-core machine. */
const SLACK_MS = 1500;

async function call(method: string, path: string, scope: string, body?: unknown, headers: Record<string, string> = {}) {
  return SELF.fetch(`${api}${path}`, {
    method,
    headers: { "content-type": "application/json", authorization: `Bearer ${await token(scope)}`, ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

/** Runs `fn` and returns what it answered and how long it took. */
async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - t0 };
}

/** What the call threw (and how long it took to throw). */
async function rejection(fn: () => Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const t0 = performance.now();
  try {
    await fn();
  } catch (error) {
    return { error, ms: performance.now() - t0 };
  }
  throw new Error("expected the call to fail");
}

/** Subscribes the example service to a fresh stream. */
async function subscribe(): Promise<string> {
  const res = await call("POST", "/subscriptions", "admin", {
    stream: `test.deadlines.${crypto.randomUUID().slice(0, 8)}`,
    group: "g",
    target: { service: "example" },
  });
  expect(res.status).toBe(201);
  return (await res.json<{ id: string }>()).id;
}

/** A new API key with the publish scope, not yet looked up by anyone. */
async function newApiKey(): Promise<string> {
  const res = await call("POST", "/api-keys", "admin", {
    name: `deadlines ${crypto.randomUUID()}`,
    subject: "deadline-test",
    scopes: ["publish"],
  });
  expect(res.status).toBe(201);
  return (await res.json<{ key: string }>()).key;
}

afterEach(async () => {
  await stackControl("redis/resume");
  await stackControl("postgres/resume");
});

describe("redis-server frozen with SIGSTOP", () => {
  it("makes a publish answer 503 with Retry-After within the Redis deadline; after SIGCONT its retry is kept exactly once", async () => {
    const stream = `test.deadlines.${crypto.randomUUID().slice(0, 8)}`;
    const before = await call("POST", `/events/${stream}`, "publish", { type: "t", data: { n: 1 } });
    expect(before.status).toBe(202);
    const kept = await before.json<{ id: string }>();

    await stackControl("redis/pause");
    const hung = await timed(() =>
      call("POST", `/events/${stream}`, "publish", { type: "t", data: { n: 2 } }, { "Idempotency-Key": "hung-1" }),
    );
    expect(hung.value.status).toBe(503);
    expect(hung.value.headers.get("Retry-After")).toBe("1");
    expect(hung.ms).toBeGreaterThanOrEqual(DEFAULT_REDIS_TIMEOUT_MS - 100);
    expect(hung.ms).toBeLessThan(DEFAULT_REDIS_TIMEOUT_MS + SLACK_MS);
    await stackControl("redis/resume");

    // The frozen server ran the abandoned write once it thawed, or never received it: the retry answers either way,
    // and the stream holds both events exactly once.
    const retry = await call("POST", `/events/${stream}`, "publish", { type: "t", data: { n: 2 } }, { "Idempotency-Key": "hung-1" });
    expect(retry.status).toBe(202);
    const second = await retry.json<{ id: string }>();
    const entries = (await redisFrom(env).xrange(stream, "-", "+")) as unknown as Array<[string, string[]]>;
    const ids = entries.map(([, fields]) => (JSON.parse(fields[fields.indexOf("event") + 1] ?? "{}") as { id: string }).id);
    expect(ids).toEqual([kept.id, second.id]);
  });

  it("makes a subscription's status answer 503 with Retry-After within the Redis deadline, and 200 after SIGCONT", async () => {
    const id = await subscribe();
    await stackControl("redis/pause");
    const hung = await timed(() => call("GET", `/subscriptions/${id}`, "admin"));
    expect(hung.value.status).toBe(503);
    expect(hung.value.headers.get("Retry-After")).toBe("1");
    expect(hung.ms).toBeLessThan(DEFAULT_REDIS_TIMEOUT_MS + SLACK_MS);
    await stackControl("redis/resume");
    expect((await call("GET", `/subscriptions/${id}`, "admin")).status).toBe(200);
  });
});

describe("PostgreSQL frozen with SIGSTOP", () => {
  it("makes GET /subscriptions/:id answer 503 with Retry-After within the Postgres deadline, and 200 after SIGCONT", async () => {
    const id = await subscribe();
    await stackControl("postgres/pause");
    const hung = await timed(() => call("GET", `/subscriptions/${id}`, "admin"));
    expect(hung.value.status).toBe(503);
    expect(hung.value.headers.get("Retry-After")).toBe("1");
    expect(hung.ms).toBeGreaterThanOrEqual(DEFAULT_DATABASE_TIMEOUT_MS - 100);
    expect(hung.ms).toBeLessThan(DEFAULT_DATABASE_TIMEOUT_MS + SLACK_MS);
    await stackControl("postgres/resume");
    const back = await call("GET", `/subscriptions/${id}`, "admin");
    expect(back.status).toBe(200);
    expect(await back.json()).toMatchObject({ id, state: "active" });
  });

  it("makes an API-key lookup throw a 503 with Retry-After within the Postgres deadline, and accept the key after SIGCONT", async () => {
    const key = await newApiKey();
    await stackControl("postgres/pause");
    const { error, ms } = await rejection(() => verifyApiKey(key, env));
    expect(error).toBeInstanceOf(HttpProblem);
    expect([(error as HttpProblem).status, (error as HttpProblem).headers["Retry-After"]]).toEqual([503, "5"]);
    expect(ms).toBeLessThan(DEFAULT_DATABASE_TIMEOUT_MS + SLACK_MS);
    await stackControl("postgres/resume");
    expect((await verifyApiKey(key, env)).subject).toBe("deadline-test");
  });

  it("makes a request with an API key answer 503 with Retry-After while the key store hangs, and 202 after SIGCONT", async () => {
    const key = await newApiKey();
    const publish = () =>
      SELF.fetch(`${api}/events/test.deadlines.keys`, {
        method: "POST",
        headers: { "content-type": "application/json", "x-api-key": key },
        body: JSON.stringify({ type: "t" }),
      });
    await stackControl("postgres/pause");
    const hung = await timed(publish);
    expect(hung.value.status).toBe(503);
    expect(hung.value.headers.get("Retry-After")).toBe("5");
    // The route quotas verify the caller to name its quota and, when that fails, fall back to its address;
    // requireAuth then verifies it again: a hung key store is waited on twice.
    expect(hung.ms).toBeLessThan(2 * DEFAULT_DATABASE_TIMEOUT_MS + SLACK_MS);
    await stackControl("postgres/resume");
    expect((await publish()).status).toBe(202);
  });

  it("makes a WebSocket Pool query reject within the Postgres deadline", async () => {
    await stackControl("postgres/pause");
    const { ms } = await rejection(() => withPool(env, (db) => db.execute(sql`select 1`)));
    expect(ms).toBeLessThan(DEFAULT_DATABASE_TIMEOUT_MS + SLACK_MS);
    await stackControl("postgres/resume");
    const { value } = await timed(() => withPool(env, (db) => db.execute(sql`select 1 as x`)));
    expect(value.rows).toEqual([{ x: 1 }]);
  });
});

describe("calls to the gateway from services", () => {
  const upstreams = inject("upstreams");

  it("gives up on a registry heartbeat that gets no answer after the client's deadline", async () => {
    const scenario = `hung-registry-${crypto.randomUUID().slice(0, 8)}`;
    await fetch(`${upstreams.a}/_fixture/${scenario}`, { method: "PUT", body: JSON.stringify({ hang: true }) });
    const client = new HttpRegistryClient({ baseUrl: `${upstreams.a}/${scenario}`, token: "t", timeoutMs: 300 });
    const { error, ms } = await rejection(() => client.heartbeat("billing", "i-1"));
    expect((error as Error).name).toBe("TimeoutError");
    expect(ms).toBeLessThan(300 + SLACK_MS);
  });

  it("gives up on a metrics push that gets no answer after the sink's deadline", async () => {
    const scenario = `hung-metrics-${crypto.randomUUID().slice(0, 8)}`;
    await fetch(`${upstreams.a}/_fixture/${scenario}`, { method: "PUT", body: JSON.stringify({ hang: true }) });
    const sink = httpSink(`${upstreams.a}/${scenario}`, "t", (req) => fetch(req), 300);
    const { error, ms } = await rejection(() => sink({ service: "billing", isolate: "i", seq: 1, families: [] }));
    expect((error as Error).name).toBe("TimeoutError");
    expect(ms).toBeLessThan(300 + SLACK_MS);
  });
});
