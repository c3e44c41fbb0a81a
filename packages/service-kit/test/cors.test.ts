import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { serviceConfig } from "../src/config.ts";
import { createService } from "../src/create-service.ts";

const LISTED = "https://app.example";
const corsEnv = { ...env, CORS_ORIGINS: `${LISTED}, http://localhost:5173` };

function makeService() {
  const app = createService<Env>({ name: "cors-test", version: "1.0.0", logSink: () => {} });
  app.get("/data", (c) => c.json({ ok: true }));
  // An upstream that answers with its own permissive CORS headers, as a proxied service might.
  app.get("/permissive", (c) => c.json({ ok: true }, 200, { "Access-Control-Allow-Origin": "*" }));
  // A response whose headers cannot be changed, like one fetched from another worker or a Durable Object.
  app.get("/immutable", () => Response.redirect("https://elsewhere.example/", 302));
  // An answer that varies on Origin already, as a proxied service on the kit answers.
  app.get("/proxied", (c) => c.json({ ok: true }, 200, { Vary: "Accept-Encoding, Origin" }));
  return app;
}

const get = (path: string, origin: string) => makeService().request(path, { headers: { Origin: origin, Cookie: "session=1" } }, corsEnv);

describe("CORS_ORIGINS", () => {
  it("keeps plain origins and refuses null, wildcards, paths and non-HTTP schemes, naming the variable", () => {
    expect([...serviceConfig({ CORS_ORIGINS: corsEnv.CORS_ORIGINS }).corsOrigins]).toEqual([LISTED, "http://localhost:5173"]);
    for (const entry of ["null", "*", "https://*.example", "https://a.example/path", "file:///etc/passwd", "javascript:alert(1)"]) {
      expect(() => serviceConfig({ CORS_ORIGINS: `${LISTED} ${entry}` }), entry).toThrow(/CORS_ORIGINS.*is not an origin/);
    }
    expect(serviceConfig({}).corsOrigins.size).toBe(0);
    expect(serviceConfig({ CORS_ORIGINS: "" }).corsOrigins.size).toBe(0);
  });
});

describe("CORS (scenario 17)", () => {
  it("echoes a listed origin with credentials and Vary: Origin", async () => {
    const res = await get("/data", LISTED);
    expect(res.status).toBe(200);
    expect(res.headers.get("Access-Control-Allow-Origin")).toBe(LISTED);
    expect(res.headers.get("Access-Control-Allow-Credentials")).toBe("true");
    expect(res.headers.get("Access-Control-Expose-Headers")).toContain("X-Correlation-Id");
    expect(res.headers.get("Vary")).toContain("Origin");
  });

  it("never echoes an unlisted origin or null, and still varies on Origin", async () => {
    for (const origin of ["https://evil.example", "null", "https://app.example.evil.example"]) {
      const res = await get("/data", origin);
      expect(res.status).toBe(200);
      expect(res.headers.get("Access-Control-Allow-Origin")).toBeNull();
      expect(res.headers.get("Access-Control-Allow-Credentials")).toBeNull();
      expect(res.headers.get("Vary")).toContain("Origin");
    }
  });

  it("removes an upstream's own Access-Control-Allow-Origin for an unlisted origin", async () => {
    const res = await get("/permissive", "https://evil.example");
    expect(res.headers.get("Access-Control-Allow-Origin")).toBeNull();
  });

  it("lists Origin once in Vary when the answer varies on it already, from a browser or not", async () => {
    const callers: Record<string, string>[] = [{ Origin: LISTED }, { Origin: "https://evil.example" }, {}];
    for (const headers of callers) {
      const res = await makeService().request("/proxied", { headers }, corsEnv);
      expect(res.status).toBe(200);
      expect(res.headers.get("Vary"), JSON.stringify(headers)).toBe("Accept-Encoding, Origin");
    }
  });

  it("answers a request without Origin with Vary: Origin and no Access-Control header, also one an upstream set", async () => {
    for (const [path, status] of [
      ["/data", 200],
      ["/permissive", 200],
      ["/immutable", 302],
    ] as const) {
      const res = await makeService().request(path, {}, corsEnv);
      expect(res.status).toBe(status);
      expect(res.headers.get("Vary")).toContain("Origin");
      for (const h of ["Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Expose-Headers"])
        expect(res.headers.get(h), `${path} ${h}`).toBeNull();
    }
  });

  it("keeps an immutable answer's own headers when it makes them writable, each once", async () => {
    const res = await makeService().request("/immutable", {}, corsEnv);
    expect(res.headers.get("Location")).toBe("https://elsewhere.example/");
    expect(res.headers.get("X-Content-Type-Options")).toBe("nosniff");
    expect(res.headers.get("Vary")).toBe("Origin");
    expect(res.headers.get("X-Correlation-Id")).toMatch(/^[\w-]+$/);
  });

  it("answers a listed preflight with the allowed methods and headers, and an unlisted one with nothing to allow", async () => {
    const preflight = (origin: string) =>
      makeService().request(
        "/data",
        {
          method: "OPTIONS",
          headers: { Origin: origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization" },
        },
        corsEnv,
      );
    const ok = await preflight(LISTED);
    expect(ok.status).toBe(204);
    expect(ok.headers.get("Access-Control-Allow-Origin")).toBe(LISTED);
    expect(ok.headers.get("Access-Control-Allow-Methods")).toContain("POST");
    expect(ok.headers.get("Access-Control-Allow-Headers")).toContain("Authorization");
    expect(ok.headers.get("Access-Control-Max-Age")).toBe("600");

    const refused = await preflight("null");
    expect(refused.headers.get("Access-Control-Allow-Origin")).toBeNull();
    expect(refused.headers.get("Access-Control-Allow-Credentials")).toBeNull();
    expect(refused.headers.get("Vary")).toContain("Origin");
  });

  it("allows no cross-origin access when CORS_ORIGINS is unset", async () => {
    const res = await makeService().request("/data", { headers: { Origin: LISTED } }, env);
    expect(res.headers.get("Access-Control-Allow-Origin")).toBeNull();
  });
});
