import { describe, expect, it } from "vitest";
import { parseRouteAuth, ruleFor } from "./auth-rules.ts";

describe("ROUTE_AUTH", () => {
  const rules = parseRouteAuth(
    JSON.stringify([
      { path: "/api/example/hello", methods: ["GET"], auth: "public" },
      { path: "/api/billing/admin/", auth: { scopes: ["billing:admin"] } },
      { path: "/api/billing/", auth: "token" },
    ]),
  );

  it("takes the first rule whose prefix and methods match, and needs a token when none does", () => {
    expect(ruleFor(rules, "GET", "/api/example/hello").auth).toBe("public");
    expect(ruleFor(rules, "POST", "/api/example/hello").auth).toBe("token");
    expect(ruleFor(rules, "GET", "/api/billing/admin/refunds").auth).toEqual({ scopes: ["billing:admin"] });
    expect(ruleFor(rules, "GET", "/api/billing/invoices").auth).toBe("token");
    expect(ruleFor(rules, "GET", "/api/other/x").auth).toBe("token");
    expect(ruleFor([], "GET", "/api/example/hello").auth).toBe("token");
  });

  it("matches a rule's path at segment boundaries: a public /hello does not make /hello-admin public", () => {
    expect(ruleFor(rules, "GET", "/api/example/hello/").auth).toBe("public");
    expect(ruleFor(rules, "GET", "/api/example/hello/sub").auth).toBe("public");
    expect(ruleFor(rules, "GET", "/api/example/hello-admin").auth).toBe("token");
    expect(ruleFor(rules, "GET", "/api/example/helloworld").auth).toBe("token");
  });

  it("forwards the caller's credentials only where a rule says so", () => {
    const forwarding = parseRouteAuth(JSON.stringify([{ path: "/api/legacy/", auth: "token", forwardCredentials: true }]));
    expect(ruleFor(forwarding, "GET", "/api/legacy/x")).toEqual({ auth: "token", forwardCredentials: true });
    expect(ruleFor(forwarding, "GET", "/api/other/x")).toEqual({ auth: "token", forwardCredentials: false });
    expect(ruleFor(rules, "GET", "/api/example/hello").forwardCredentials).toBe(false);
  });

  it("fails loudly on a broken config instead of opening routes", () => {
    expect(() => parseRouteAuth("[{")).toThrow(/not valid JSON/);
    expect(() => parseRouteAuth(JSON.stringify([{ path: "/api/x", auth: "open" }]))).toThrow(/invalid/);
    expect(() => parseRouteAuth(JSON.stringify([{ path: "/x", auth: "public" }]))).toThrow(/invalid/);
    expect(() => parseRouteAuth(JSON.stringify([{ path: "/api/x", auth: { scopes: [] } }]))).toThrow(/invalid/);
    expect(() => parseRouteAuth(JSON.stringify([{ path: "/api/x", auth: "public", extra: 1 }]))).toThrow(/invalid/);
    expect(parseRouteAuth(undefined)).toEqual([]);
  });
});
