import { describe, expect, it } from "vitest";
import { openSecret, sealSecret } from "./sealed-secrets.ts";
import { newWebhookSecret, serviceSecret, signWebhook, verifyWebhook, webhookHeaders, WEBHOOK_SIGNATURE } from "./webhooks.ts";

const now = 1_800_000_000_000;
const headersOf = (h: Record<string, string>) => (name: string) => h[name];

describe("Standard Webhooks signatures", () => {
  it("signs id.timestamp.body with the secret's key, and verifies it within the tolerance only", async () => {
    const secret = newWebhookSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    const h = await webhookHeaders([secret], "msg_1", now, '{"a":1}');
    expect(h[WEBHOOK_SIGNATURE]).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(await verifyWebhook(secret, headersOf(h), '{"a":1}', now + 1000)).toBeNull();
    expect(await verifyWebhook(secret, headersOf(h), '{"a":2}', now)).toBe("mismatch");
    expect(await verifyWebhook(newWebhookSecret(), headersOf(h), '{"a":1}', now)).toBe("mismatch");
    expect(await verifyWebhook(secret, headersOf(h), '{"a":1}', now + 301_000)).toBe("expired");
    expect(await verifyWebhook(secret, headersOf({ ...h, "webhook-id": "msg_2" }), '{"a":1}', now)).toBe("mismatch");
    expect(await verifyWebhook(secret, headersOf({ ...h, [WEBHOOK_SIGNATURE]: "v1=abc" }), '{"a":1}', now)).toBe("malformed");
    expect(await verifyWebhook(secret, headersOf({}), '{"a":1}', now)).toBe("missing");
  });

  it("matches the specification's published example", async () => {
    // From the Standard Webhooks specification (spec/standard-webhooks.md, "Signature scheme").
    const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const body = '{"test": 2432232314}';
    expect(await signWebhook([secret], "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)).toBe(
      "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
    );
  });

  it("signs with every secret during a rotation, and each verifies alone", async () => {
    const [current, previous] = [newWebhookSecret(), newWebhookSecret()];
    const h = await webhookHeaders([current, previous], "msg_r", now, "x");
    expect(h[WEBHOOK_SIGNATURE]?.split(" ")).toHaveLength(2);
    expect(await verifyWebhook(current, headersOf(h), "x", now)).toBeNull();
    expect(await verifyWebhook(previous, headersOf(h), "x", now)).toBeNull();
  });

  it("derives one stable secret per service, different for every service", async () => {
    const a = await serviceSecret("master", "billing");
    expect(a).toBe(await serviceSecret("master", "billing"));
    expect(a).not.toBe(await serviceSecret("master", "example"));
    expect(a).not.toBe(await serviceSecret("other", "billing"));
    expect(a).toMatch(/^whsec_/);
    // vitest.config.ts computes the services' secrets this way for the test workers.
    const { createHmac } = await import("node:crypto");
    expect(a).toBe(`whsec_${createHmac("sha256", "master").update("service:billing").digest("base64")}`);
  });
});

describe("sealed secrets", () => {
  it("opens what it sealed under the same master secret only", async () => {
    const secret = newWebhookSecret();
    const sealed = await sealSecret("master", secret);
    expect(sealed).not.toContain(secret.slice(6));
    expect(await openSecret("master", sealed)).toBe(secret);
    await expect(openSecret("other", sealed)).rejects.toThrow();
    expect(await sealSecret("master", secret)).not.toBe(sealed);
  });
});
