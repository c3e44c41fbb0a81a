import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { bindingName, serviceBinding, upstreamRequest } from "./forward.ts";

describe("upstreamRequest", () => {
  const ctx = { correlationId: "cid", clientIp: "203.0.113.9", host: "api.example.com", proto: "https" };

  it("strips hop-by-hop headers, including those named in Connection", () => {
    const incoming = new Request("https://api.example.com/api/svc/a/b?x=1", {
      headers: {
        connection: "keep-alive, x-secret-hop",
        "keep-alive": "timeout=5",
        "x-secret-hop": "1",
        te: "trailers",
        accept: "application/json",
      },
    });
    const req = upstreamRequest(incoming, "/a/b", ctx, "https://svc.internal");
    expect(req.url).toBe("https://svc.internal/a/b?x=1");
    for (const h of ["connection", "keep-alive", "x-secret-hop", "te"]) expect(req.headers.has(h), h).toBe(false);
    expect(req.headers.get("accept")).toBe("application/json");
  });

  it("sets X-Forwarded-* and the correlation ID and never follows redirects", () => {
    const incoming = new Request("https://api.example.com/api/svc/", {
      headers: { "x-forwarded-for": "198.51.100.1", "x-correlation-id": "spoof" },
    });
    const req = upstreamRequest(incoming, "/", ctx, "https://svc.internal");
    expect(req.headers.get("x-forwarded-for")).toBe("198.51.100.1, 203.0.113.9");
    expect(req.headers.get("x-forwarded-host")).toBe("api.example.com");
    expect(req.headers.get("x-forwarded-proto")).toBe("https");
    expect(req.headers.get("x-correlation-id")).toBe("cid");
    expect(req.redirect).toBe("manual");
  });
});

describe("serviceBinding", () => {
  it("maps service names to upper-snake binding names", () => {
    expect(bindingName("ai-response-monitor")).toBe("AI_RESPONSE_MONITOR");
  });

  it("only returns real service bindings for valid names", () => {
    const fake = { fetch: () => Promise.resolve(new Response()), idFromName: () => null };
    const bindings = { ...env, FAKE: fake };
    expect(serviceBinding(bindings, "example")).toBe(env.EXAMPLE);
    expect(serviceBinding(bindings, "jwt-secret")).toBeUndefined();
    expect(serviceBinding(bindings, "fake")).toBeUndefined();
    expect(serviceBinding(bindings, "EXAMPLE")).toBeUndefined();
    expect(serviceBinding(bindings, "../example")).toBeUndefined();
  });
});
