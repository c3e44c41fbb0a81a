import { env } from "cloudflare:workers";
import { createRoute, z } from "@hono/zod-openapi";
import { describe, expect, it } from "vitest";
import { IDENTITY_TTL_SECONDS, signIdentity, verifyIdentity } from "../src/auth/identity.ts";
import { requireAuth } from "../src/auth/jwt.ts";
import { correlatedRequest, createService } from "../src/create-service.ts";
import { HttpProblem } from "@foundation/core";

function makeService(lines: string[] = []) {
  const app = createService<Env>({ name: "kit-test", version: "9.9.9", bodyLimitBytes: 64, logSink: (line) => lines.push(line) });
  const Body = z.object({ n: z.number().int().positive() }).strict();
  const route = createRoute({
    method: "post",
    path: "/items",
    request: { body: { content: { "application/json": { schema: Body } }, required: true } },
    responses: { 201: { description: "Created" } },
  });
  app.openapi(route, (c) => c.json({ n: c.req.valid("json").n, correlationId: c.var.correlationId }, 201));
  app.get("/boom", () => {
    throw new Error("secret connection string postgres://user:pw@host");
  });
  app.get("/conflict", () => {
    throw new HttpProblem(409, { slug: "duplicate", detail: "already there", headers: { "Retry-After": "3" } });
  });
  return app;
}

const json = (body: unknown, headers: Record<string, string> = {}) => ({
  method: "POST",
  headers: { "content-type": "application/json", ...headers },
  body: JSON.stringify(body),
});

describe("createService", () => {
  it("returns the caller's correlation ID and makes it available to handlers", async () => {
    const res = await makeService().request("/items", json({ n: 1 }, { "X-Correlation-Id": "abc-123" }), env);
    expect(res.status).toBe(201);
    expect(res.headers.get("X-Correlation-Id")).toBe("abc-123");
    expect(await res.json()).toEqual({ n: 1, correlationId: "abc-123" });
  });

  it("generates a correlation ID when the caller's is missing or unsafe", async () => {
    const res = await makeService().request("/items", json({ n: 1 }, { "X-Correlation-Id": 'bad id"<script>' }), env);
    const id = res.headers.get("X-Correlation-Id");
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("propagates the correlation ID on outgoing requests unless one is set", () => {
    expect(correlatedRequest("https://x.invalid/a", undefined, "out-1").headers.get("X-Correlation-Id")).toBe("out-1");
    const own = correlatedRequest("https://x.invalid/a", { headers: { "X-Correlation-Id": "mine" } }, "out-1");
    expect(own.headers.get("X-Correlation-Id")).toBe("mine");
  });

  it("answers malformed JSON with a 400 problem+json carrying the correlation ID", async () => {
    const res = await makeService().request(
      "/items",
      { method: "POST", headers: { "content-type": "application/json", "X-Correlation-Id": "c1" }, body: "{oops" },
      env,
    );
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(await res.json()).toMatchObject({ status: 400, title: "Bad Request", correlationId: "c1" });
  });

  it("lists each invalid field in a validation problem and rejects unknown fields", async () => {
    const res = await makeService().request("/items", json({ n: -1, role: "admin" }), env);
    expect(res.status).toBe(400);
    const body = await res.json<{ type: string; errors: Array<{ pointer: string }> }>();
    expect(body.type).toBe("/problems/validation-error");
    expect(body.errors.map((e) => e.pointer).sort()).toEqual(["/json", "/json/n"]);
  });

  it("refuses a body over the limit with 413", async () => {
    const res = await makeService().request("/items", json({ n: 1, pad: "x".repeat(200) }), env);
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ status: 413, type: "/problems/body-too-large" });
  });

  it("refuses a non-JSON body with 415", async () => {
    const res = await makeService().request("/items", { method: "POST", headers: { "content-type": "text/plain" }, body: "n=1" }, env);
    expect(res.status).toBe(415);
  });

  it("answers unknown routes with a 404 problem", async () => {
    const res = await makeService().request("/nope", {}, env);
    expect(res.status).toBe(404);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(res.headers.get("X-Correlation-Id")).toBeTruthy();
  });

  it("renders typed problems with their headers", async () => {
    const res = await makeService().request("/conflict", {}, env);
    expect(res.status).toBe(409);
    expect(res.headers.get("Retry-After")).toBe("3");
    expect(await res.json()).toMatchObject({ type: "/problems/duplicate", detail: "already there" });
  });

  it("turns unknown errors into a 500 that leaks nothing, and logs them", async () => {
    const lines: string[] = [];
    const res = await makeService(lines).request("/boom", {}, env);
    expect(res.status).toBe(500);
    const text = await res.text();
    expect(text).not.toContain("postgres://");
    expect(text).not.toContain("secret");
    expect(lines.some((l) => l.includes("unhandled error") && l.includes("secret connection string"))).toBe(true);
  });

  it("logs one structured line per request with method, route, status, duration and correlation ID", async () => {
    const lines: string[] = [];
    await makeService(lines).request("/items", json({ n: 2 }, { "X-Correlation-Id": "log-1" }), env);
    const requestLines = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === "request");
    expect(requestLines).toHaveLength(1);
    expect(requestLines[0]).toMatchObject({ service: "kit-test", method: "POST", route: "/items", status: 201, correlationId: "log-1" });
    expect(typeof requestLines[0]?.durationMs).toBe("number");
  });

  it("sets secure headers", async () => {
    const res = await makeService().request("/nope", {}, env);
    expect(res.headers.get("X-Content-Type-Options")).toBe("nosniff");
  });

  it("counts requests by route and status in /metrics", async () => {
    const app = makeService();
    await app.request("/items", json({ n: 1 }), env);
    await app.request("/items", json({ n: 1 }), env);
    await app.request("/items", json({ n: 0 }), env);
    const res = await app.request("/metrics", {}, env);
    expect(res.headers.get("content-type")).toContain("text/plain; version=0.0.4");
    const text = await res.text();
    expect(text).toContain('foundation_http_requests_total{method="POST",route="/items",service="kit-test",status="201"} 2');
    expect(text).toContain('foundation_http_requests_total{method="POST",route="/items",service="kit-test",status="400"} 1');
    expect(text).toContain('foundation_http_request_duration_seconds_count{method="POST",route="/items",service="kit-test"} 3');
  });

  it("labels a request with the route that answered it, not with a catch-all registered after it", async () => {
    const app = makeService();
    app.all("/:anything/*", (c) => c.text("fallback"));
    await app.request("/items", json({ n: 1 }), env);
    await app.request("/other/x", {}, env);
    const text = await (await app.request("/metrics", {}, env)).text();
    expect(text).toContain('foundation_http_requests_total{method="POST",route="/items",service="kit-test",status="201"} 1');
    expect(text).toContain('foundation_http_requests_total{method="GET",route="/:anything/*",service="kit-test",status="200"} 1');
  });

  it("requires the bearer token for /metrics when METRICS_TOKEN is set", async () => {
    const app = makeService();
    const withToken = { ...env, METRICS_TOKEN: "t0ken" };
    expect((await app.request("/metrics", {}, withToken)).status).toBe(401);
    expect((await app.request("/metrics", { headers: { authorization: "Bearer t0ken" } }, withToken)).status).toBe(200);
  });

  it("reports real Redis and Postgres latencies in /health", async () => {
    const res = await makeService().request("/health", {}, env);
    expect(res.status).toBe(200);
    const body = await res.json<{ status: string; version: string; checks: Record<string, { ok: boolean; latencyMs: number }> }>();
    expect(body).toMatchObject({ status: "ok", version: "9.9.9", checks: { redis: { ok: true }, postgres: { ok: true } } });
    expect(body.checks.redis?.latencyMs).toBeGreaterThan(0);
    expect(body.checks.postgres?.latencyMs).toBeGreaterThan(0);
  });
});

describe("the gateway's identity assertion", () => {
  const secret = "whsec_dGVzdC1vbmx5LXNlY3JldC1vZi1zZXJ2aWNlLWFhYWFhYWFh";
  const caller = { subject: "alice", scopes: new Set(["orders:read"]), claims: {} };
  const service = () => {
    const app = createService<Env>({ name: "orders", version: "1.0.0", logSink: () => {} });
    app.get("/mine", requireAuth({ anyOf: ["orders:read"] }), (c) => c.json({ subject: c.var.auth.subject }));
    return app;
  };
  const get = async (assertion: string) =>
    service().request("/mine", { headers: { "x-foundation-identity": assertion } }, { ...env, EVENT_SIGNING_SECRET: secret });

  it("is the verified caller behind the gateway: requireAuth accepts it with its scopes", async () => {
    const res = await get(await signIdentity(secret, "orders", caller, Date.now()));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ subject: "alice" });
  });

  it("lets a POST without a body through with it, and still refuses a body that is not JSON", async () => {
    const app = createService<Env>({ name: "orders", version: "1.0.0", logSink: () => {} });
    app.post("/retry", requireAuth({ anyOf: ["orders:read"] }), (c) => c.json({ subject: c.var.auth.subject }, 202));
    const headers = { "x-foundation-identity": await signIdentity(secret, "orders", caller, Date.now()) };
    const vars = { ...env, EVENT_SIGNING_SECRET: secret };
    const bodyless = await app.request("/retry", { method: "POST", headers }, vars);
    expect(bodyless.status).toBe(202);
    const text = await app.request("/retry", { method: "POST", headers: { ...headers, "content-type": "text/plain" }, body: "x" }, vars);
    expect(text.status).toBe(415);
  });

  it("is refused when minted for another service, with another secret, or expired", async () => {
    expect((await get(await signIdentity(secret, "billing", caller, Date.now()))).status).toBe(401);
    expect((await get(await signIdentity(`${secret}x`, "orders", caller, Date.now()))).status).toBe(401);
    expect((await get(await signIdentity(secret, "orders", caller, Date.now() - 10 * 60_000))).status).toBe(401);
    expect((await get("not.a.jwt")).status).toBe(401);
  });

  it("answers an assertion verified before from memory, but never past its expiry or for another service or secret", async () => {
    const now = Date.now();
    const token = await signIdentity(secret, "orders", caller, now);
    const first = await verifyIdentity(secret, "orders", token, now);
    expect(await verifyIdentity(secret, "orders", token, now + 1000)).toBe(first);
    await expect(verifyIdentity(secret, "billing", token, now)).rejects.toMatchObject({ status: 401 });
    await expect(verifyIdentity(`${secret}x`, "orders", token, now)).rejects.toMatchObject({ status: 401 });
    await expect(verifyIdentity(secret, "orders", token, now + (IDENTITY_TTL_SECONDS + 6) * 1000)).rejects.toMatchObject({ status: 401 });
  });
});
