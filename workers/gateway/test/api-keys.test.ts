import { SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { apiKeys, createDb } from "@foundation/db";
import { hashApiKey, HttpProblem, verifyApiKey } from "@foundation/service-kit";
import { eq } from "drizzle-orm";
import { afterEach, describe, expect, it } from "vitest";
import { token } from "./auth.ts";
import { stackControl } from "./stack.ts";

interface CreatedKey {
  id: string;
  key: string;
  prefix: string;
  subject: string;
  scopes: string[];
  expiresAt: string | null;
}

const keysUrl = "http://gw.test/api/foundation/api-keys";

async function createKey(body: Record<string, unknown>, scope = "admin"): Promise<Response> {
  return SELF.fetch(keysUrl, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${await token(scope)}` },
    body: JSON.stringify(body),
  });
}

async function newKey(scopes: string[], subject = "ai-monitor"): Promise<CreatedKey> {
  const res = await createKey({ name: `test ${crypto.randomUUID()}`, subject, scopes });
  expect(res.status).toBe(201);
  return res.json<CreatedKey>();
}

const publish = (key: string, stream = `keys.${crypto.randomUUID().slice(0, 8)}`) =>
  SELF.fetch(`http://gw.test/api/foundation/events/${stream}`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-api-key": key },
    body: JSON.stringify({ type: "key.used", data: {} }),
  });

describe("API keys", () => {
  afterEach(() => stackControl("postgres/start"));

  it("creates a key shown once, stores only its hash, and lists it without the key", async () => {
    const created = await newKey(["publish"]);
    expect(created.key).toMatch(new RegExp(`^fnd_${created.prefix}_[A-Za-z0-9_-]{43}$`));
    const [row] = await createDb(env).select().from(apiKeys).where(eq(apiKeys.id, created.id));
    expect(row?.hash).toBe(await hashApiKey(created.key));
    expect(JSON.stringify(row)).not.toContain(created.key.slice(13));

    const list = await SELF.fetch(keysUrl, { headers: { authorization: `Bearer ${await token("admin")}` } });
    const text = await list.text();
    expect(text).toContain(created.id);
    expect(text).not.toContain(created.key);
    expect(text).not.toContain(row?.hash ?? "no-hash");
  });

  it("authenticates foundation routes and proxied services by X-Api-Key, with the key's scopes", async () => {
    const publisher = await newKey(["publish"]);
    expect((await publish(publisher.key)).status).toBe(202);
    const reader = await newKey(["read"]);
    expect((await publish(reader.key)).status).toBe(403);
    const echo = await SELF.fetch("http://gw.test/api/example/echo", {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": reader.key },
      body: JSON.stringify({ message: "by key" }),
    });
    expect(echo.status).toBe(200);
  });

  it("refuses malformed, unknown and revoked keys with 401, and revocation is at once in this isolate", async () => {
    expect((await publish("not-a-key")).status).toBe(401);
    expect((await publish(`fnd_AAAAAAAA_${"x".repeat(43)}`)).status).toBe(401);
    const key = await newKey(["publish"]);
    expect((await publish(key.key)).status).toBe(202);
    const admin = { authorization: `Bearer ${await token("admin")}` };
    expect((await SELF.fetch(`${keysUrl}/${key.id}`, { method: "DELETE", headers: admin })).status).toBe(204);
    expect((await SELF.fetch(`${keysUrl}/${key.id}`, { method: "DELETE", headers: admin })).status).toBe(204);
    expect((await SELF.fetch(`${keysUrl}/${crypto.randomUUID()}`, { method: "DELETE", headers: admin })).status).toBe(404);
    const refused = await publish(key.key);
    expect(refused.status).toBe(401);
    expect(refused.headers.get("content-type")).toBe("application/problem+json");
  });

  it("refuses a key past its expiry (time injected)", async () => {
    const res = await createKey({ name: "short", subject: "ai-monitor", scopes: ["read"], expiresInDays: 1 });
    const { key } = await res.json<CreatedKey>();
    await expect(verifyApiKey(key, env)).resolves.toMatchObject({ subject: "ai-monitor" });
    const later = await verifyApiKey(key, env, () => Date.now() + 2 * 86_400_000).catch((e: unknown) => e);
    expect(later).toBeInstanceOf(HttpProblem);
    expect((later as HttpProblem).status).toBe(401);
  });

  it("refuses bad requests with 400 and non-admins with 403, storing nothing", async () => {
    const name = `bad ${crypto.randomUUID()}`;
    const bad: Record<string, unknown>[] = [
      { name, subject: "svc", scopes: ["admin"] },
      { name, subject: "svc", scopes: [] },
      { name, subject: "Not A Name", scopes: ["read"] },
      { name, subject: "svc", scopes: ["read"], role: "admin" },
      { name, subject: "svc", scopes: ["read"], expiresInDays: 0 },
    ];
    for (const body of bad) expect((await createKey(body)).status, JSON.stringify(body)).toBe(400);
    expect((await createKey({ name, subject: "svc", scopes: ["read"] }, "service")).status).toBe(403);
    expect(await createDb(env).select().from(apiKeys).where(eq(apiKeys.name, name))).toEqual([]);
  });

  it("answers 503 with Retry-After for an unchecked key while Postgres is down, never letting it through", async () => {
    const key = await newKey(["publish"]);
    expect((await publish(key.key)).status).toBe(202);
    const fresh = `fnd_BBBBBBBB_${"y".repeat(43)}`;
    await stackControl("postgres/stop");
    const down = await publish(fresh);
    expect(down.status).toBe(503);
    expect(down.headers.get("Retry-After")).toBe("5");
    expect((await publish(key.key)).status).toBe(202); // checked a moment ago: cached in this isolate
  });
});
