import { SELF } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { apiKeys, createDb } from "@foundation/db";
import {
  apiKeyCacheSizes,
  hashApiKey,
  HttpProblem,
  LOOKUPS_PER_CLIENT_PER_MINUTE,
  MAX_CACHED_KEYS,
  verifyApiKey,
  verifyCaller,
} from "@foundation/service-kit";
import { eq, sql } from "drizzle-orm";
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
    // Past the second in which the known key prefixes are trusted without reading them again.
    await new Promise((r) => setTimeout(r, 1100));
    await stackControl("postgres/stop");
    const down = await publish(fresh);
    expect(down.status).toBe(503);
    expect(down.headers.get("Retry-After")).toBe("5");
    expect((await publish(key.key)).status).toBe(202); // checked a moment ago: cached in this isolate
  });

  it("costs Postgres almost nothing for a flood of random keys on a public route, with every cache bounded", async () => {
    const lookups = async () => {
      const result = await createDb(env).execute<{ n: string }>(
        sql`select (coalesce(seq_scan, 0) + coalesce(idx_scan, 0))::text as n from pg_stat_user_tables where relname = 'api_keys'`,
      );
      return Number(result.rows[0]?.n ?? 0);
    };
    const settled = async () => {
      let last = -1;
      for (let i = 0; i < 20; i++) {
        await new Promise((r) => setTimeout(r, 300));
        const n = await lookups();
        if (n === last) return n;
        last = n;
      }
      return last;
    };
    const random = () => {
      const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
      const pick = (n: number) => Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => alphabet[b % alphabet.length]).join("");
      return `fnd_${pick(8)}_${pick(43)}`;
    };
    const before = await settled();
    // Through the public route, as a client would send them...
    for (let batch = 0; batch < 4; batch++) {
      const answers = await Promise.all(
        Array.from({ length: 50 }, () =>
          SELF.fetch("http://gw.test/api/example/hello", { headers: { "x-api-key": random(), "cf-connecting-ip": "198.51.100.7" } }),
        ),
      );
      for (const res of answers) {
        expect(res.status).toBe(200);
        await res.body?.cancel();
      }
    }
    // ...and 10,000 through the check every such request makes (the route adds a log line per request, no lookup).
    for (let batch = 0; batch < 100; batch++) {
      const checks = await Promise.allSettled(
        Array.from({ length: 100 }, () => verifyCaller({ authorization: undefined, apiKey: random(), client: "198.51.100.7" }, env)),
      );
      for (const c of checks) expect(c.status === "rejected" && (c.reason as HttpProblem).status).toBe(401);
    }
    // One read of the known prefixes a second at most; no query per key.
    expect((await settled()) - before).toBeLessThanOrEqual(20);
    const sizes = apiKeyCacheSizes();
    expect(sizes.keys).toBeLessThanOrEqual(MAX_CACHED_KEYS);
    expect(sizes.clients).toBeLessThanOrEqual(10_000);
  }, 60_000);

  it("limits key lookups per client address before they reach Postgres", async () => {
    const known = await newKey(["read"]);
    const sameprefix = (i: number) => `fnd_${known.prefix}_${String(i).padStart(43, "x")}`;
    const client = `203.0.113.${Math.floor(Math.random() * 200) + 20}`;
    const statuses: number[] = [];
    for (let i = 0; i < LOOKUPS_PER_CLIENT_PER_MINUTE + 2; i++) {
      const res = await SELF.fetch("http://gw.test/api/foundation/services", {
        headers: { "x-api-key": sameprefix(i), "cf-connecting-ip": client },
      });
      statuses.push(res.status);
      await res.body?.cancel();
    }
    expect(statuses.slice(0, LOOKUPS_PER_CLIENT_PER_MINUTE).every((s) => s === 401)).toBe(true);
    expect(statuses.slice(LOOKUPS_PER_CLIENT_PER_MINUTE)).toEqual([429, 429]);
  });
});
