import { describe, expect, it } from "vitest";
import { downstreamResponse, upstreamRequest } from "./forward.ts";

describe("upstreamRequest", () => {
  const ctx = {
    correlationId: "cid",
    traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    clientIp: "203.0.113.9",
    host: "api.example.com",
    proto: "https",
  };

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

  it("passes a request whose Connection names something that is not a header name, and leaves the query as sent", () => {
    const incoming = new Request("https://api.example.com/api/svc/a?q=a%20b&q=2", {
      headers: { connection: "close, not a header, X-Drop", "x-drop": "1", "x-keep": "1" },
    });
    const req = upstreamRequest(incoming, "/a", ctx, "https://svc.internal");
    expect(req.url).toBe("https://svc.internal/a?q=a%20b&q=2");
    expect(req.headers.has("x-drop")).toBe(false);
    expect(req.headers.get("x-keep")).toBe("1");
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
    expect(req.headers.get("traceparent")).toBe(ctx.traceparent);
    expect(req.redirect).toBe("manual");
  });

  it("says a request goes over a service binding, and never passes a client's own hint on", () => {
    const incoming = new Request("https://api.example.com/api/svc/", { headers: { "x-foundation-hop": "binding" } });
    expect(upstreamRequest(incoming, "/", { ...ctx, overBinding: true }, "https://svc.internal").headers.get("x-foundation-hop")).toBe(
      "binding",
    );
    expect(upstreamRequest(incoming, "/", ctx, "https://svc.example.com").headers.has("x-foundation-hop")).toBe(false);
  });

  it("appends the path to the instance URL's own path, and a path like //host stays on the instance", () => {
    const incoming = new Request("https://api.example.com/api/svc//evil.example/x?y=2");
    expect(upstreamRequest(incoming, "/a", ctx, "https://svc.example.com/v2/").url).toBe("https://svc.example.com/v2/a?y=2");
    expect(upstreamRequest(incoming, "//evil.example/x", ctx, "https://svc.example.com").url).toBe(
      "https://svc.example.com//evil.example/x?y=2",
    );
  });
});

describe("upstreamRequest and the caller's credentials", () => {
  const ctx = {
    correlationId: "cid",
    traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    host: "gw",
    proto: "https",
    clientIp: undefined,
  };
  const incoming = () =>
    new Request("https://gw/api/svc/x", {
      headers: {
        authorization: "Bearer caller-token",
        "x-api-key": "fnd_key",
        cookie: "session=1",
        "x-foundation-identity": "forged",
        accept: "text/plain",
      },
    });

  it("passes none of the caller's credentials on, and the gateway's identity assertion instead of any the client sent", () => {
    const req = upstreamRequest(incoming(), "/x", { ...ctx, identity: "minted" }, "https://svc.example");
    for (const h of ["authorization", "x-api-key", "cookie"]) expect(req.headers.has(h), h).toBe(false);
    expect(req.headers.get("x-foundation-identity")).toBe("minted");
    expect(req.headers.get("accept")).toBe("text/plain");
    expect(upstreamRequest(incoming(), "/x", ctx, "https://svc.example").headers.has("x-foundation-identity")).toBe(false);
  });

  it("passes them on where the route forwards credentials", () => {
    const req = upstreamRequest(incoming(), "/x", { ...ctx, forwardCredentials: true }, "https://svc.example");
    expect(req.headers.get("authorization")).toBe("Bearer caller-token");
    expect(req.headers.get("cookie")).toBe("session=1");
    expect(req.headers.has("x-foundation-identity")).toBe(false);
  });
});

describe("downstreamResponse", () => {
  it("keeps status, body and end-to-end headers (a redirect's Location too) and drops hop-by-hop headers", async () => {
    const upstream = new Response("moved", {
      status: 307,
      headers: { location: "https://elsewhere.example/", connection: "x-hop", "x-hop": "1", "keep-alive": "timeout=5", "x-kept": "yes" },
    });
    const res = downstreamResponse(upstream);
    expect(res.status).toBe(307);
    expect(res.headers.get("location")).toBe("https://elsewhere.example/");
    expect(res.headers.get("x-kept")).toBe("yes");
    for (const h of ["connection", "x-hop", "keep-alive"]) expect(res.headers.has(h), h).toBe(false);
    expect(await res.text()).toBe("moved");
  });
});
