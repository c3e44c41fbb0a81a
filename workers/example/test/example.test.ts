import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { app } from "../src/app.ts";

const post = (body: string, headers: Record<string, string> = { "content-type": "application/json" }) => ({
  method: "POST",
  headers,
  body,
});

describe("example service", () => {
  it("greets with its name and the correlation ID", async () => {
    const res = await app.request("/hello", { headers: { "X-Correlation-Id": "ex-1" } }, env);
    expect(await res.json()).toEqual({ hello: "world", service: "example", correlationId: "ex-1" });
  });

  it("echoes a valid message the requested number of times", async () => {
    const res = await app.request("/echo", post(JSON.stringify({ message: "ab", repeat: 3 })), env);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ echo: "ab ab ab" });
  });

  it.each([
    ["an empty message", { message: "" }],
    ["a repeat above 10", { message: "x", repeat: 11 }],
    ["a missing message", {}],
    ["an unknown field", { message: "x", id: "forged" }],
  ])("rejects %s with a 400 validation problem", async (_, body) => {
    const res = await app.request("/echo", post(JSON.stringify(body)), env);
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect(await res.json()).toMatchObject({ type: "/problems/validation-error", status: 400 });
  });

  it("answers a wrong content type with 415", async () => {
    const res = await app.request("/echo", post("message=x", { "content-type": "application/x-www-form-urlencoded" }), env);
    expect(res.status).toBe(415);
  });
});
