import { describe, expect, it } from "vitest";
import { defaultDeregisterAfterSeconds, parseRegistration, type AddressPolicy } from "./registration.ts";

const policy: AddressPolicy = { local: false, isServiceBinding: (b) => b === "BILLING" };
const base = { name: "billing", version: "1.2.3" };

describe("parseRegistration", () => {
  it("fills in the default TTL and deregister delay", () => {
    const r = parseRegistration({ ...base, url: "https://billing.example.com" }, policy);
    expect(r).toEqual({
      ok: true,
      registration: {
        service: "billing",
        url: "https://billing.example.com/",
        version: "1.2.3",
        metadata: {},
        ttlMs: 30_000,
        deregisterAfterMs: 600_000,
      },
    });
  });

  it("makes the default deregister delay ten TTLs, at least ten minutes", () => {
    expect(defaultDeregisterAfterSeconds(1)).toBe(600);
    expect(defaultDeregisterAfterSeconds(3600)).toBe(36_000);
  });

  it("accepts a binding the gateway has", () => {
    expect(parseRegistration({ ...base, binding: "BILLING", ttlSeconds: 5 }, policy)).toMatchObject({
      ok: true,
      registration: { binding: "BILLING", ttlMs: 5000 },
    });
  });

  it.each([
    ["an unknown field (mass assignment)", { ...base, url: "https://b.example.com", role: "admin" }, ""],
    ["an id chosen by the caller", { ...base, url: "https://b.example.com", id: "mine" }, ""],
    ["neither url nor binding", base, "url"],
    ["both url and binding", { ...base, url: "https://b.example.com", binding: "BILLING" }, "url"],
    ["an upper-case name", { ...base, name: "Billing", url: "https://b.example.com" }, "name"],
    ["a 65-character name", { ...base, name: "a".repeat(65), url: "https://b.example.com" }, "name"],
    ["a TTL of 0", { ...base, url: "https://b.example.com", ttlSeconds: 0 }, "ttlSeconds"],
    ["a TTL over an hour", { ...base, url: "https://b.example.com", ttlSeconds: 3601 }, "ttlSeconds"],
    ["a fractional TTL", { ...base, url: "https://b.example.com", ttlSeconds: 1.5 }, "ttlSeconds"],
    [
      "a deregister delay shorter than the TTL",
      { ...base, url: "https://b.example.com", ttlSeconds: 120, deregisterAfterSeconds: 60 },
      "deregisterAfterSeconds",
    ],
    ["a private URL", { ...base, url: "https://10.0.0.1" }, "url"],
    ["a binding the gateway lacks", { ...base, binding: "JWT_SECRET" }, "binding"],
    ["a non-string metadata value", { ...base, url: "https://b.example.com", metadata: { zone: 1 } }, "metadata"],
  ])("refuses %s", (_, input, field) => {
    const r = parseRegistration(input, policy);
    expect(r.ok).toBe(false);
    if (!r.ok && field) expect(r.issues.map((i) => i.path[0])).toContain(field);
  });

  it("drops a __proto__ metadata key instead of storing it (prototype pollution)", () => {
    const r = parseRegistration(
      { ...base, url: "https://b.example.com", metadata: JSON.parse('{"__proto__":{"admin":true},"zone":"a"}') as unknown },
      policy,
    );
    expect(r).toMatchObject({ ok: true, registration: { metadata: { zone: "a" } } });
    if (r.ok) expect(Object.getPrototypeOf(r.registration.metadata)).toBe(Object.prototype);
  });
});
