import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { bindingName, bindingNamed, serviceBinding } from "../src/bindings.ts";

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

  it("finds a service binding by its binding name, and nothing else", () => {
    expect(bindingNamed(env, "EXAMPLE")).toBe(env.EXAMPLE);
    expect(bindingNamed(env, "SERVICE_REGISTRY")).toBeUndefined();
    expect(bindingNamed(env, "JWT_SECRET")).toBeUndefined();
    expect(bindingNamed(env, "NOT_BOUND")).toBeUndefined();
  });
});
