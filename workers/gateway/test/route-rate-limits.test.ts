import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { app } from "../src/app.ts";
import { token } from "./auth.ts";

/** Gateway env with a small quota named uniquely per test, so tests never share counts. */
function withQuota(limit: number, extra: Record<string, unknown> = {}): { bindings: Env; name: string } {
  const name = `t-${crypto.randomUUID().slice(0, 8)}`;
  const policies = [
    { name, path: "/api/example/", policy: { algorithm: "fixed-window", limit, windowMs: 3_600_000 }, failMode: "open", ...extra },
  ];
  return { bindings: { ...env, RATE_LIMIT_POLICIES: JSON.stringify(policies) }, name };
}

describe("gateway route rate limits", () => {
  it("counts each client IP separately and refuses past the limit with 429 and RateLimit headers", async () => {
    const { bindings, name } = withQuota(2);
    const get = (ip: string) => app.request("/api/example/hello", { headers: { "cf-connecting-ip": ip } }, bindings);
    const first = await get("198.51.100.7");
    expect(first.status).toBe(200);
    expect(first.headers.get("RateLimit-Policy")).toBe(`"${name}";q=2;w=3600`);
    expect(first.headers.get("RateLimit")).toMatch(new RegExp(`^"${name}";r=1;t=\\d+$`));
    expect((await get("198.51.100.7")).status).toBe(200);
    const refused = await get("198.51.100.7");
    expect(refused.status).toBe(429);
    expect(refused.headers.get("content-type")).toBe("application/problem+json");
    expect(Number(refused.headers.get("Retry-After"))).toBeGreaterThan(0);
    expect((await get("198.51.100.8")).status).toBe(200);
  });

  it("counts a verified token subject across IPs, and ignores unverifiable tokens", async () => {
    const { bindings } = withQuota(1);
    const t = await token("read", "svc-x");
    const asSubject = (ip: string) =>
      app.request("/api/example/hello", { headers: { authorization: `Bearer ${t}`, "cf-connecting-ip": ip } }, bindings);
    expect((await asSubject("198.51.100.20")).status).toBe(200);
    expect((await asSubject("198.51.100.21")).status).toBe(429);
    const forged = await app.request(
      "/api/example/hello",
      { headers: { authorization: "Bearer a.b.c", "cf-connecting-ip": "198.51.100.22" } },
      bindings,
    );
    expect(forged.status).toBe(200);
  });

  it("leaves routes outside every policy unlimited", async () => {
    const { bindings } = withQuota(1);
    for (let i = 0; i < 3; i++) expect((await app.request("/health", {}, bindings)).status).toBe(200);
  });

  it("fails closed when a closed policy's limiter cannot answer in time, and open when declared open", async () => {
    const closed = withQuota(5, { failMode: "closed", timeoutMs: 0 });
    const res = await app.request("/api/example/hello", { headers: { "cf-connecting-ip": "198.51.100.30" } }, closed.bindings);
    expect(res.status).toBe(503);
    expect(res.headers.get("Retry-After")).toBe("1");
    const open = withQuota(5, { failMode: "open", timeoutMs: 0 });
    expect((await app.request("/api/example/hello", { headers: { "cf-connecting-ip": "198.51.100.30" } }, open.bindings)).status).toBe(200);
  });
});
