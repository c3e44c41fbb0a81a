import { describe, expect, it } from "vitest";
import { accessFor, parseRouteAuth } from "./auth-rules.ts";

describe("ROUTE_AUTH", () => {
  const rules = parseRouteAuth(
    JSON.stringify([
      { path: "/api/example/hello", methods: ["GET"], auth: "public" },
      { path: "/api/billing/admin/", auth: { scopes: ["billing:admin"] } },
      { path: "/api/billing/", auth: "token" },
    ]),
  );

  it("takes the first rule whose prefix and methods match, and needs a token when none does", () => {
    expect(accessFor(rules, "GET", "/api/example/hello")).toBe("public");
    expect(accessFor(rules, "POST", "/api/example/hello")).toBe("token");
    expect(accessFor(rules, "GET", "/api/billing/admin/refunds")).toEqual({ scopes: ["billing:admin"] });
    expect(accessFor(rules, "GET", "/api/billing/invoices")).toBe("token");
    expect(accessFor(rules, "GET", "/api/other/x")).toBe("token");
    expect(accessFor([], "GET", "/api/example/hello")).toBe("token");
  });

  it("matches a rule's path at segment boundaries: a public /hello does not make /hello-admin public", () => {
    expect(accessFor(rules, "GET", "/api/example/hello/")).toBe("public");
    expect(accessFor(rules, "GET", "/api/example/hello/sub")).toBe("public");
    expect(accessFor(rules, "GET", "/api/example/hello-admin")).toBe("token");
    expect(accessFor(rules, "GET", "/api/example/helloworld")).toBe("token");
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
