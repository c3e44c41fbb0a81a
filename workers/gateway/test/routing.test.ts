import { env, SELF } from "cloudflare:test";
import { RegistryClient } from "@foundation/registry";
import { serviceSecret } from "@foundation/event-bus";
import { createService, MetricsRegistry, verifyIdentity } from "@foundation/service-kit";
import { SignJWT } from "jose";
import { describe, expect, inject, it } from "vitest";
import { app } from "../src/app.ts";
import { serviceProxy, type ServiceProxyOptions } from "../src/service-proxy.ts";
import { token } from "./auth.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** Two real HTTP servers on loopback that play instances (packages/local-stack/src/upstream-fixture.ts). */
    upstreams: { a: string; b: string };
  }
}

type Server = "a" | "b";
interface Seen {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}
interface Echo extends Seen {
  upstream: Server;
}

const upstreams = inject("upstreams");
const registry = new RegistryClient(env);
const unique = (prefix: string) => `${prefix}-${crypto.randomUUID().slice(0, 8)}`;

/** A new service with one URL instance per server, each at `<server>/<service>/`; the service name is the fixture scenario. */
async function serviceOn(servers: Server[], prefix = "rt"): Promise<{ service: string; ids: Record<string, string> }> {
  const service = unique(prefix);
  const ids: Record<string, string> = {};
  for (const s of servers) {
    const result = await registry.register({ name: service, url: `${upstreams[s]}/${service}/`, version: "1.0.0", ttlSeconds: 30 });
    if (!result.ok) throw new Error(`registration failed: ${JSON.stringify(result)}`);
    ids[s] = result.instanceId;
  }
  return { service, ids };
}

/** Sets how a fixture server answers the service's requests. */
async function behave(server: Server, service: string, behaviour: Record<string, unknown>): Promise<void> {
  const res = await fetch(`${upstreams[server]}/_fixture/${service}`, { method: "PUT", body: JSON.stringify(behaviour) });
  expect(res.status).toBe(200);
  await res.body?.cancel();
}

/** The service's requests that a fixture server received. */
async function seen(server: Server, service: string): Promise<Seen[]> {
  const res = await fetch(`${upstreams[server]}/_fixture/${service}`);
  return (await res.json<{ requests: Seen[] }>()).requests;
}

/** Calls the gateway with a valid token: the routes of services behind it need one (ROUTE_AUTH). */
const gateway = async (path: string, init: RequestInit = {}) => {
  const headers = new Headers(init.headers);
  if (!headers.has("authorization")) headers.set("authorization", `Bearer ${await token("read")}`);
  return SELF.fetch(`http://gw.test${path}`, { redirect: "manual", ...init, headers });
};

/** A gateway-like app whose breakers and outlier detection run on `clock`, as the real one runs on Date.now. */
function clockedProxy(options: Omit<ServiceProxyOptions, "metrics" | "now">) {
  const clock = { now: 1_000_000 };
  const metrics = new MetricsRegistry();
  const proxy = createService<Env>({ name: "routing-test", version: "0.0.0", jsonBodiesOnly: false, metrics });
  proxy.all("/api/:service/*", serviceProxy({ ...options, metrics, now: () => clock.now }));
  const get = async (service: string, bindings: Env = env) => proxy.request(`http://gw.test/api/${service}/x`, {}, bindings);
  return { clock, metrics, get };
}

describe("routing /api/:service/* to registered instances", () => {
  it("balances requests round-robin across two URL instances on real HTTP servers and counts them", async () => {
    const { service } = await serviceOn(["a", "b"]);
    const answers: Echo[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await gateway(`/api/${service}/items/${i}?q=${i}`);
      expect(res.status).toBe(200);
      answers.push(await res.json<Echo>());
    }
    const order = answers.map((a) => a.upstream);
    expect(order.filter((u) => u === "a")).toHaveLength(2);
    expect(order[0]).not.toBe(order[1]);
    expect(order[2]).toBe(order[0]);
    expect(answers[3]?.path).toBe(`/${service}/items/3?q=3`);
    const metrics = await (await gateway("/metrics")).text();
    expect(metrics).toContain(`foundation_gateway_upstream_requests_total{outcome="success",service="${service}"} 4`);
  });

  it("reaches an instance registered as a service binding through that binding", async () => {
    const service = unique("bound");
    expect((await registry.register({ name: service, binding: "EXAMPLE", version: "1.0.0", ttlSeconds: 30 })).ok).toBe(true);
    const res = await gateway(`/api/${service}/hello`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ hello: "world", service: "example" });
  });

  it("strips hop-by-hop headers both ways and sets X-Forwarded-* and the correlation ID on the wire", async () => {
    const { service } = await serviceOn(["a"]);
    await behave("a", service, { headers: { connection: "x-upstream-hop", "x-upstream-hop": "1", "x-kept": "yes" } });
    const res = await gateway(`/api/${service}/h`, {
      headers: {
        connection: "x-secret-hop",
        "x-secret-hop": "1",
        te: "trailers",
        "proxy-authorization": "Basic c2VjcmV0",
        "x-correlation-id": "route-trace-1",
        "x-forwarded-for": "198.51.100.1",
        "cf-connecting-ip": "203.0.113.9",
        "x-foundation-hop": "binding",
      },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("x-kept")).toBe("yes");
    expect(res.headers.has("x-upstream-hop")).toBe(false);
    const [req] = await seen("a", service);
    // A client's scheduling hint for services on a binding is not passed to a URL instance.
    for (const h of ["x-secret-hop", "te", "proxy-authorization", "x-foundation-hop"]) expect(req?.headers[h], h).toBeUndefined();
    expect(req?.headers).toMatchObject({
      "x-correlation-id": "route-trace-1",
      "x-forwarded-for": "198.51.100.1, 203.0.113.9",
      "x-forwarded-host": "gw.test",
      "x-forwarded-proto": "http",
    });
  });

  it("passes an upstream redirect through as it is and never follows it (SSRF)", async () => {
    const { service } = await serviceOn(["a"]);
    const elsewhere = `${upstreams.b}/${service}/internal-only`;
    await behave("a", service, { status: 302, headers: { location: elsewhere } });
    const res = await gateway(`/api/${service}/go`);
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe(elsewhere);
    expect(await seen("b", service)).toEqual([]);
  });

  it("answers 503 with Retry-After and sends nothing upstream when no instance is passing", async () => {
    const { service, ids } = await serviceOn(["a", "b"]);
    for (const id of Object.values(ids)) await registry.heartbeat(service, id, { status: "critical", output: "disk full" });
    const res = await gateway(`/api/${service}/x`);
    expect(res.status).toBe(503);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(res.headers.get("retry-after")).toBe("10");
    expect(await res.json()).toMatchObject({ type: "/problems/no-healthy-instance", status: 503 });
    expect([...(await seen("a", service)), ...(await seen("b", service))]).toEqual([]);
  });

  it("answers 404 once every instance is deregistered and no static binding has the service's name", async () => {
    const { service, ids } = await serviceOn(["a"]);
    await registry.deregister(service, ids.a ?? "");
    expect((await gateway(`/api/${service}/x`)).status).toBe(404);
    expect(await seen("a", service)).toEqual([]);
  });

  it("answers 504 problem+json when the instance does not answer within the service's timeout", async () => {
    const { service } = await serviceOn(["a"]);
    await behave("a", service, { hang: true });
    const started = Date.now();
    const res = await app.request(
      `http://gw.test/api/${service}/slow`,
      { headers: { authorization: `Bearer ${await token("read")}` } },
      { ...env, UPSTREAM_TIMEOUTS: JSON.stringify({ [service]: 300 }) },
    );
    expect(res.status).toBe(504);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(await res.json()).toMatchObject({ type: "/problems/upstream-timeout", status: 504 });
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe("retries of /api/:service/*", () => {
  it("retries GET and PUT on the other instance after a 5xx, with the PUT's body, but never a POST", async () => {
    const { service } = await serviceOn(["a", "b"]);
    await behave("a", service, { status: 503 });
    for (let i = 0; i < 2; i++) {
      const get = await gateway(`/api/${service}/r`);
      expect(get.status).toBe(200);
      expect((await get.json<Echo>()).upstream).toBe("b");
    }
    for (let i = 0; i < 2; i++) {
      const put = await gateway(`/api/${service}/r`, { method: "PUT", headers: { "content-type": "application/json" }, body: '{"n":1}' });
      expect(put.status).toBe(200);
      expect(await put.json<Echo>()).toMatchObject({ upstream: "b", body: '{"n":1}' });
    }
    const posts = [];
    for (let i = 0; i < 2; i++) posts.push((await gateway(`/api/${service}/r`, { method: "POST", body: "once" })).status);
    expect(posts.sort()).toEqual([200, 503]);
    const onA = await seen("a", service);
    const onB = await seen("b", service);
    expect(onA.filter((r) => r.method === "GET").length).toBeGreaterThanOrEqual(1);
    expect(onA.filter((r) => r.method === "PUT").length).toBeGreaterThanOrEqual(1);
    expect(onA.filter((r) => r.method === "POST")).toHaveLength(1);
    expect(onB.filter((r) => r.method === "POST")).toHaveLength(1);
  });

  it("retries a POST that carries an Idempotency-Key", async () => {
    const { service } = await serviceOn(["a", "b"]);
    await behave("a", service, { status: 500 });
    for (let i = 0; i < 2; i++) {
      const res = await gateway(`/api/${service}/r`, { method: "POST", headers: { "idempotency-key": `k-${i}` }, body: "x" });
      expect(res.status).toBe(200);
    }
    expect((await seen("b", service)).filter((r) => r.method === "POST")).toHaveLength(2);
  });

  it("retries a GET after a connection failure, and answers a POST that met one with 502", async () => {
    const { service } = await serviceOn(["a", "b"]);
    await behave("a", service, { reset: true });
    for (let i = 0; i < 2; i++) expect((await gateway(`/api/${service}/c`)).status).toBe(200);
    const posts = [];
    for (let i = 0; i < 2; i++) posts.push((await gateway(`/api/${service}/c`, { method: "POST", body: "once" })).status);
    expect(posts.sort()).toEqual([200, 502]);
  });
});

describe("paths with percent-encoding", () => {
  it("routes an encoded service name as the name it decodes to, forwarding the rest of the path unchanged", async () => {
    const { service } = await serviceOn(["a"], "enc");
    const encoded = `%${service.charCodeAt(0).toString(16)}${service.slice(1)}`;
    const res = await gateway(`/api/${encoded}/items/7?q=1`);
    expect(res.status).toBe(200);
    expect((await res.json<Echo>()).path).toBe(`/${service}/items/7?q=1`);
    expect((await seen("a", service)).map((r) => r.path)).toEqual([`/${service}/items/7?q=1`]);
  });

  it("refuses encoded separators and names that decode to no service, without proxying anything", async () => {
    const { service } = await serviceOn(["a"], "sep");
    for (const [path, status] of [
      [`/api/${service}%2Fadmin/x`, 400],
      [`/api/${service}/a%2Fb`, 400],
      // The URL parser resolves an encoded dot segment: this path is /api/x, a service that does not exist.
      [`/api/${service}/%2e%2e/x`, 404],
      [`/api/${service.toUpperCase()}/x`, 404],
    ] as const) {
      const res = await gateway(path);
      expect(res.status, path).toBe(status);
      expect(res.headers.get("content-type"), path).toBe("application/problem+json");
    }
    expect(await seen("a", service)).toEqual([]);
  });

  it("applies route rules to the decoded path: an encoded public path is public, an encoded private one is not", async () => {
    // ROUTE_AUTH makes GET /api/example/hello public (wrangler.toml); /api/example/hello-admin is not under it.
    expect((await SELF.fetch("http://gw.test/api/%65xample/%68ello")).status).toBe(200);
    expect((await SELF.fetch("http://gw.test/api/example/hello-admin")).status).toBe(401);
  });
});

describe("the caller's identity upstream", () => {
  it("never gives a URL instance the caller's Authorization, X-Api-Key or Cookie, but an assertion only that service accepts", async () => {
    const { service } = await serviceOn(["a"], "idn");
    const res = await gateway(`/api/${service}/who`, {
      headers: { authorization: `Bearer ${await token("read", "alice")}`, cookie: "session=secret" },
    });
    expect(res.status).toBe(200);
    const [request] = await seen("a", service);
    for (const h of ["authorization", "x-api-key", "cookie"]) expect(request?.headers[h], h).toBeUndefined();
    const assertion = request?.headers["x-foundation-identity"] ?? "";
    const mine = await serviceSecret(env.EVENT_SIGNING_SECRET, service);
    const caller = await verifyIdentity(mine, service, assertion, Date.now());
    expect(caller.subject).toBe("alice");
    expect([...caller.scopes]).toEqual(["read"]);
    const other = await serviceSecret(env.EVENT_SIGNING_SECRET, "example");
    await expect(verifyIdentity(other, "example", assertion, Date.now())).rejects.toMatchObject({ status: 401 });
    await expect(verifyIdentity(mine, service, assertion, Date.now() + 120_000)).rejects.toMatchObject({ status: 401 });
  });

  it("answers 503 identity-not-configured, before any instance is tried, when the gateway has no EVENT_SIGNING_SECRET", async () => {
    const { service } = await serviceOn(["a"], "nosecret");
    const res = await app.request(
      `http://gw.test/api/${service}/x`,
      { headers: { authorization: `Bearer ${await token("read")}` } },
      { ...env, EVENT_SIGNING_SECRET: "" },
    );
    expect(res.status).toBe(503);
    expect(await res.json()).toMatchObject({ type: "/problems/identity-not-configured" });
    expect(await seen("a", service)).toEqual([]);
  });

  it("lets a token restricted to one service's audience call that service only", async () => {
    const { service } = await serviceOn(["a"], "aud");
    const restricted = await new SignJWT({ scope: "read admin" })
      .setProtectedHeader({ alg: "HS256" })
      .setSubject("narrow")
      .setIssuer("foundation-local")
      .setAudience(`foundation:${service}`)
      .setIssuedAt()
      .setExpirationTime("5m")
      .sign(new TextEncoder().encode(env.JWT_SECRET));
    const as = (path: string) => gateway(path, { headers: { authorization: `Bearer ${restricted}` } });
    expect((await as(`/api/${service}/x`)).status).toBe(200);
    expect((await as("/api/example/echo")).status).toBe(403);
    expect((await as("/api/foundation/services")).status).toBe(403);
  });
});

describe("outlier ejection and circuit breakers, with injected time", () => {
  it("ejects an instance after 5 consecutive 5xx, sends it nothing while ejected, and takes it back afterwards", async () => {
    const { clock, metrics, get } = clockedProxy({ retry: { maxRetries: 0 } });
    const { service } = await serviceOn(["a", "b"]);
    await behave("a", service, { status: 500 });
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await get(service)).status);
    expect(statuses.filter((s) => s === 500)).toHaveLength(5);
    expect(metrics.counter("foundation_gateway_outlier_ejections_total", "").get({ service })).toBe(1);

    for (let i = 0; i < 4; i++) expect((await get(service)).status).toBe(200);
    expect(await seen("a", service)).toHaveLength(5);

    await behave("a", service, {});
    clock.now += 30_000;
    for (let i = 0; i < 4; i++) expect((await get(service)).status).toBe(200);
    expect(await seen("a", service)).toHaveLength(7);
  });

  it("goes through the breaker's full cycle: open sends nothing, exactly N probes, a hung probe reopens, good probes close", async () => {
    const breaker = { minimumCalls: 4, failureRateThreshold: 0.5, openMs: 5_000, halfOpenProbes: 2, probeTimeoutMs: 1_000 };
    const { clock, metrics, get } = clockedProxy({ breaker, outlier: { consecutiveFailures: 1000 }, retry: { maxRetries: 0 } });
    const { service } = await serviceOn(["a"]);
    const quick = { ...env, UPSTREAM_TIMEOUT_MS: "500" };
    const transitions = (state: string) => metrics.counter("foundation_gateway_breaker_transitions_total", "").get({ service, state });

    await behave("a", service, { status: 500 });
    for (let i = 0; i < 4; i++) expect((await get(service)).status).toBe(500);
    const refused = await get(service);
    expect(refused.status).toBe(503);
    expect(refused.headers.get("retry-after")).toBe("5");
    expect(await refused.json()).toMatchObject({ type: "/problems/breakers-open" });
    expect(await seen("a", service)).toHaveLength(4);

    clock.now += 5_000;
    await behave("a", service, { hang: true });
    const probes = [get(service, quick), get(service, quick)];
    while ((await seen("a", service)).length < 6) await scheduler.wait(10);
    expect((await get(service, quick)).status).toBe(503);
    expect(await seen("a", service)).toHaveLength(6);

    clock.now += 1_000;
    const reopened = await get(service, quick);
    expect(reopened.status).toBe(503);
    expect(reopened.headers.get("retry-after")).toBe("5");
    expect((await Promise.all(probes)).map((r) => r.status)).toEqual([504, 504]);
    expect(transitions("open")).toBe(2);

    clock.now += 5_000;
    await behave("a", service, {});
    for (let i = 0; i < 3; i++) expect((await get(service)).status).toBe(200);
    expect(await seen("a", service)).toHaveLength(9);
    expect([transitions("half-open"), transitions("closed")]).toEqual([2, 1]);
  });
});
