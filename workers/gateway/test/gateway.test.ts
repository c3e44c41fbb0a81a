import { SELF } from "cloudflare:test";
import { afterEach, describe, expect, it } from "vitest";
import { app } from "../src/app.ts";
import { token } from "./auth.ts";
import { stackControl } from "./stack.ts";

const bearer = async () => `Bearer ${await token("read")}`;

interface Health {
  status: string;
  checks: Record<string, { ok: boolean; latencyMs: number }>;
}

describe("gateway /health", () => {
  afterEach(async () => {
    await stackControl("redis/start");
    await stackControl("postgres/start");
  });

  it("is ok with real Redis and Postgres checks and their latencies", async () => {
    const res = await SELF.fetch("http://gw.test/health");
    expect(res.status).toBe(200);
    const body = await res.json<Health>();
    expect(body.status).toBe("ok");
    expect(body.checks.redis?.ok).toBe(true);
    expect(body.checks.postgres?.ok).toBe(true);
    expect(body.checks.redis?.latencyMs).toBeGreaterThan(0);
    expect(body.checks.postgres?.latencyMs).toBeGreaterThan(0);
  });

  it("answers 503 degraded while the project's redis-server is stopped, and 200 once it is back", async () => {
    await stackControl("redis/stop");
    const down = await SELF.fetch("http://gw.test/health");
    expect(down.status).toBe(503);
    const body = await down.json<Health>();
    expect(body.status).toBe("degraded");
    expect(body.checks.redis?.ok).toBe(false);
    expect(body.checks.postgres?.ok).toBe(true);
    await stackControl("redis/start");
    expect((await SELF.fetch("http://gw.test/health")).status).toBe(200);
  });

  it("answers 503 degraded while PostgreSQL is stopped", async () => {
    await stackControl("postgres/stop");
    const down = await SELF.fetch("http://gw.test/health");
    expect(down.status).toBe(503);
    expect((await down.json<Health>()).checks.postgres?.ok).toBe(false);
    await stackControl("postgres/start");
    expect((await SELF.fetch("http://gw.test/health")).status).toBe(200);
  });
});

describe("gateway /api/:service/*", () => {
  it("routes to the example service and propagates the correlation ID both ways", async () => {
    const res = await SELF.fetch("http://gw.test/api/example/hello", { headers: { "X-Correlation-Id": "trace-42" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("X-Correlation-Id")).toBe("trace-42");
    // The service's own `Vary: Origin` is kept, not repeated by the gateway's.
    expect(res.headers.get("Vary")).toBe("Origin");
    expect(await res.json()).toEqual({ hello: "world", service: "example", correlationId: "trace-42" });
  });

  it("passes a validated body through and returns the service's answer", async () => {
    const res = await SELF.fetch("http://gw.test/api/example/echo", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: await bearer() },
      body: JSON.stringify({ message: "hi", repeat: 2 }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ echo: "hi hi", service: "example" });
  });

  it("answers a malformed JSON body with the service's 400 problem+json and the correlation ID", async () => {
    const res = await SELF.fetch("http://gw.test/api/example/echo", {
      method: "POST",
      headers: { "content-type": "application/json", "X-Correlation-Id": "bad-json-1", authorization: await bearer() },
      body: '{"message": ',
    });
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(await res.json()).toMatchObject({ status: 400, correlationId: "bad-json-1" });
  });

  it("rejects unknown fields in the body (mass assignment)", async () => {
    const res = await SELF.fetch("http://gw.test/api/example/echo", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: await bearer() },
      body: JSON.stringify({ message: "hi", role: "admin" }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ type: "/problems/validation-error" });
  });

  it("answers an oversize body with 413", async () => {
    const res = await SELF.fetch("http://gw.test/api/example/echo", {
      method: "POST",
      headers: { "content-type": "application/json", authorization: await bearer() },
      body: JSON.stringify({ message: "x".repeat(2 * 1024 * 1024) }),
    });
    expect(res.status).toBe(413);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
  });

  it("answers unknown routes and unknown services with 404 problem+json", async () => {
    for (const path of ["/nowhere", "/api/nosuch/x", "/api/example/nosuch", "/api/JWT_SECRET/x"]) {
      const res = await SELF.fetch(`http://gw.test${path}`, { headers: { authorization: await bearer() } });
      expect(res.status, path).toBe(404);
      expect(res.headers.get("content-type"), path).toBe("application/problem+json");
    }
  });

  it("refuses a route that needs a token without one (401) and with a bad one, before the service sees it", async () => {
    const echo = (headers: Record<string, string>) =>
      SELF.fetch("http://gw.test/api/example/echo", {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify({ message: "hi" }),
      });
    const refusedHeaders: Record<string, string>[] = [
      {},
      { authorization: "Bearer not.a.token" },
      { authorization: `Basic ${btoa("a:b")}` },
    ];
    for (const headers of refusedHeaders) {
      const res = await echo(headers);
      expect(res.status).toBe(401);
      expect(res.headers.get("WWW-Authenticate")).toContain("Bearer");
      expect(await res.json()).toMatchObject({ status: 401 });
    }
    expect((await SELF.fetch(`http://gw.test/api/example/echo?access_token=${await token("read")}`, { method: "POST" })).status).toBe(401);
  });

  it("counts proxied requests in /metrics", async () => {
    await SELF.fetch("http://gw.test/api/example/hello");
    const text = await (await SELF.fetch("http://gw.test/metrics")).text();
    expect(text).toMatch(/foundation_http_requests_total\{method="GET",route="\/api\/:service\/\*",service="gateway",status="200"\} \d+/);
  });
});

describe("gateway /openapi.json", () => {
  it("documents every foundation route as OpenAPI 3.1 with the bearer scheme", async () => {
    const res = await SELF.fetch("http://gw.test/openapi.json");
    expect(res.status).toBe(200);
    const doc = await res.json<{
      openapi: string;
      paths: Record<string, Record<string, unknown>>;
      components: { securitySchemes: Record<string, unknown> };
    }>();
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: "http", scheme: "bearer" });
    for (const [path, method] of [
      ["/api/foundation/ratelimit/check", "post"],
      ["/api/foundation/events/{stream}", "post"],
      ["/api/foundation/events/{stream}", "get"],
      ["/api/foundation/events/{stream}/batch", "post"],
      ["/api/foundation/events/{stream}/dlq", "get"],
      ["/api/foundation/events/{stream}/dlq/redrive", "post"],
      ["/api/foundation/subscriptions", "post"],
      ["/api/foundation/subscriptions/{id}", "get"],
    ] as const) {
      expect(doc.paths[path]?.[method], `${method} ${path}`).toBeDefined();
    }
  });

  it("documents every route the gateway serves under /api/foundation", async () => {
    const doc = await (await SELF.fetch("http://gw.test/openapi.json")).json<{ paths: Record<string, Record<string, unknown>> }>();
    const served = app.routes.filter((r) => r.path.startsWith("/api/foundation/") && r.method !== "ALL");
    expect(served.length).toBeGreaterThan(10);
    const missing = served.filter((r) => !doc.paths[r.path.replace(/:(\w+)/g, "{$1}")]?.[r.method.toLowerCase()]);
    expect(missing.map((r) => `${r.method} ${r.path}`)).toEqual([]);
  });
});
