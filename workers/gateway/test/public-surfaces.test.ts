import { env, SELF } from "cloudflare:test";
import { matchingPolicies } from "@foundation/rate-limiter";
import { redisFrom } from "@foundation/service-kit";
import { describe, expect, it, vi } from "vitest";
import { app } from "../src/app.ts";
import { configFrom } from "../src/config.ts";
import { dashboardState } from "../src/dashboard/snapshot.ts";
import { MAX_DASHBOARD_SOCKETS_PER_CLIENT, TOO_MANY_FROM_CLIENT } from "../src/dashboard/status-dashboard.ts";
import { token } from "./auth.ts";

const unique = (prefix: string) => `${prefix}-${crypto.randomUUID().slice(0, 8)}`;

interface Health {
  status: string;
  checks: Record<string, { ok: boolean; latencyMs: number; required: boolean; error?: string }>;
}

/** Opens a dashboard WebSocket as the client at `ip`; `closed` settles with the close event, if one comes. */
async function openLive(ip: string): Promise<{ ws: WebSocket; closed: Promise<CloseEvent> }> {
  const res = await SELF.fetch("http://gateway.local/dashboard/live", { headers: { Upgrade: "websocket", "cf-connecting-ip": ip } });
  expect(res.status).toBe(101);
  const ws = res.webSocket;
  if (!ws) throw new Error("no WebSocket in the answer");
  const closed = new Promise<CloseEvent>((resolve) => ws.addEventListener("close", resolve));
  ws.accept();
  return { ws, closed };
}

const within = <T>(p: Promise<T>, ms: number) => Promise.race([p, new Promise<"still open">((r) => setTimeout(() => r("still open"), ms))]);

describe("the gateway's public surfaces", () => {
  it("serves /metrics outside local only with METRICS_TOKEN: 503 when none is configured, 401 for any other bearer", async () => {
    const staging = { ...env, ENVIRONMENT: "staging" };
    const unconfigured = await app.request("/metrics", {}, staging);
    expect(unconfigured.status).toBe(503);
    expect(await unconfigured.json()).toMatchObject({ type: "/problems/metrics-not-configured" });
    const locked = { ...staging, METRICS_TOKEN: "0123456789abcdef0123456789abcdef" };
    for (const authorization of [
      undefined,
      "Bearer 0123456789abcdef0123456789abcde",
      "Bearer 0123456789abcdef0123456789abcdef0",
      "Basic x",
    ]) {
      const res = await app.request("/metrics", { headers: authorization ? { authorization } : {} }, locked);
      expect(res.status).toBe(401);
      expect(res.headers.get("WWW-Authenticate")).toBe("Bearer");
    }
    expect((await app.request("/metrics", { headers: { authorization: `Bearer ${locked.METRICS_TOKEN}` } }, locked)).status).toBe(200);
    expect((await app.request("/metrics", {}, env)).status).toBe(200);
  });

  it("reports each dependency's status and latency on /health, and its error text only to operators (admin or METRICS_TOKEN)", async () => {
    const broken = { ...env, UPSTASH_REDIS_REST_TOKEN: "not-the-token", METRICS_TOKEN: "fedcba9876543210fedcba9876543210" };
    const health = async (headers: Record<string, string> = {}) => {
      const res = await app.request("/health", { headers }, broken);
      expect(res.status).toBe(503);
      return res.json<Health>();
    };
    const anonymous = await health();
    expect(anonymous.status).toBe("degraded");
    expect(anonymous.checks.redis).toEqual({ ok: false, latencyMs: expect.any(Number) as number, required: true });
    expect(anonymous.checks.postgres).toEqual({ ok: true, latencyMs: expect.any(Number) as number, required: true });
    for (const headers of [{ authorization: `Bearer ${await token("read")}` }, { authorization: "Bearer not.a.token" }]) {
      expect((await health(headers)).checks.redis?.error).toBeUndefined();
    }
    for (const authorization of [`Bearer ${await token("admin")}`, `Bearer ${broken.METRICS_TOKEN}`]) {
      expect((await health({ authorization })).checks.redis?.error).toEqual(expect.any(String));
    }
  });

  it(`closes a client's dashboard sockets past ${MAX_DASHBOARD_SOCKETS_PER_CLIENT} with the reason, counting an IPv6 /64 as one client`, async () => {
    const held = [];
    for (let i = 1; i <= MAX_DASHBOARD_SOCKETS_PER_CLIENT; i++) held.push(await openLive(`2001:db8:5:6::${i}`));
    const refused = await openLive("2001:db8:5:6:ffff::99");
    const close = await within(refused.closed, 2000);
    expect(close).not.toBe("still open");
    expect(close).toMatchObject(TOO_MANY_FROM_CLIENT);
    const other = await openLive("198.51.100.99");
    expect(await within(other.closed, 300)).toBe("still open");
    for (const { ws } of [...held, other]) ws.close(1000);
  });

  it("names /health, /metrics, /dashboard and /docs in the configured quotas, and enforces them on those paths", async () => {
    const configured = configFrom(env).rateLimits;
    for (const path of ["/health", "/metrics", "/dashboard/state", "/dashboard/live", "/docs/", "/openapi.json"]) {
      expect(matchingPolicies(configured, "GET", path).map((p) => p.path)).toContain(
        path.startsWith("/dashboard") ? "/dashboard" : path.replace(/\/$/, ""),
      );
    }
    const paths = ["/health", "/metrics", "/dashboard/state", "/docs/missing", "/openapi.json"];
    const policies = paths.map((path) => ({
      name: unique("surface"),
      path,
      policy: { algorithm: "fixed-window", limit: 2, windowMs: 3_600_000 },
      failMode: "open",
    }));
    const bindings = { ...env, RATE_LIMIT_POLICIES: JSON.stringify(policies) };
    for (const path of paths) {
      const get = () => app.request(path, { headers: { "cf-connecting-ip": "198.51.100.98" } }, bindings);
      for (let i = 0; i < 2; i++) expect((await get()).status, path).not.toBe(429);
      const refused = await get();
      expect(refused.status, path).toBe(429);
      expect(refused.headers.get("content-type")).toBe("application/problem+json");
    }
  });

  it("shows every stream row whose consumer answers when another one fails, and logs the failure", async () => {
    const call = async (method: string, path: string, body?: unknown) =>
      SELF.fetch(`http://gw.test/api/foundation${path}`, {
        method,
        headers: { authorization: `Bearer ${await token("admin")}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const [healthy, failing] = [unique("0surfaces-ok"), unique("0surfaces-broken")];
    const ids: string[] = [];
    for (const stream of [healthy, failing]) {
      const res = await call("POST", "/subscriptions", { stream, group: "dash", target: { service: "example" } });
      expect(res.status).toBe(201);
      ids.push((await res.json<{ id: string }>()).id);
    }
    // The dead-letter stream's key holding another type makes that consumer's status fail in Redis itself.
    await redisFrom(env).set(`dlq:${failing}`, "not a stream");
    const warn = vi.spyOn(console, "warn");
    try {
      const { streams } = await dashboardState(env);
      expect(streams).toContainEqual({ stream: healthy, group: "dash", lag: 0, pending: 0, dlqSize: 0 });
      expect(streams).toContainEqual({ stream: failing, group: "dash", lag: null, pending: null, dlqSize: null });
      const logged = warn.mock.calls.map((args) => String(args[0])).filter((line) => line.includes("dashboard stream status not read"));
      expect(logged.some((line) => line.includes(failing) && line.includes("WRONGTYPE"))).toBe(true);
    } finally {
      warn.mockRestore();
      await redisFrom(env).del(`dlq:${failing}`);
      for (const id of ids) await call("DELETE", `/subscriptions/${id}`);
    }
  });
});
