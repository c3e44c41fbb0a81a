import { describe, expect, it } from "vitest";
import { parseApiPath } from "./api-path.ts";

describe("parseApiPath", () => {
  it("takes the service from the first segment and forwards the rest as the client sent it", () => {
    expect(parseApiPath("/api/billing/invoices/7")).toEqual({
      service: "billing",
      rest: "/invoices/7",
      decoded: "/api/billing/invoices/7",
    });
    expect(parseApiPath("/api/billing")).toEqual({ service: "billing", rest: "/", decoded: "/api/billing/" });
    expect(parseApiPath("/api/billing/a%20b")).toEqual({ service: "billing", rest: "/a%20b", decoded: "/api/billing/a b" });
  });

  it("routes a percent-encoded service name as the name it decodes to, with the rest cut at the same segment", () => {
    // The attack: routing decoded "billing" but cut the raw path at its length, forwarding to another host.
    expect(parseApiPath("/api/%62illing/x")).toEqual({ service: "billing", rest: "/x", decoded: "/api/billing/x" });
    expect(parseApiPath("/api/%62%69%6c%6c%69%6e%67/ng/x")).toMatchObject({ service: "billing", rest: "/ng/x" });
  });

  it("refuses encoded separators and dot segments with 400, and names no service can have with 404", () => {
    for (const raw of [
      "/api/billing%2fadmin/x",
      "/api/billing/a%2Fb",
      "/api/billing/a%5cb",
      "/api/billing/%2e%2e/x",
      "/api/billing/%E0%A4%A",
    ])
      expect(parseApiPath(raw), raw).toMatchObject({ status: 400 });
    for (const raw of ["/api/Billing/x", "/api/bill_ing/x", "/api//x", "/api/%42illing/x", "/health"])
      expect(parseApiPath(raw), raw).toMatchObject({ status: 404 });
  });
});
