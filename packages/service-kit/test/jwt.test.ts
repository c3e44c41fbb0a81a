import { env } from "cloudflare:workers";
import { Hono } from "hono";
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWTPayload } from "jose";
import { describe, expect, it } from "vitest";
import { toProblem } from "@foundation/core";
import { requireAuth, type AuthEnv } from "../src/auth/jwt.ts";
import type { AuthContext } from "../src/auth/types.ts";

const secret = new TextEncoder().encode(env.JWT_SECRET);
const now = () => Math.floor(Date.now() / 1000);
const good = (): JWTPayload => ({ sub: "svc", iss: "foundation-local", aud: "foundation", exp: now() + 60, scope: "publish" });

async function hs(payload: JWTPayload, alg = "HS256", key: Uint8Array = secret): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg, typ: "JWT" }).sign(key);
}

function b64url(o: unknown): string {
  return btoa(JSON.stringify(o)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
}

let ran = 0;
const app = new Hono<{ Bindings: AuthEnv; Variables: { auth: AuthContext } }>();
app.onError((err, c) => {
  const { problem, headers } = toProblem(err);
  return c.json(problem, problem.status as 401, headers);
});
app.get("/any", requireAuth(), (c) => {
  ran++;
  return c.json({ sub: c.var.auth.subject });
});
app.get("/publish", requireAuth({ anyOf: ["publish"] }), (c) => c.json({ ok: true }));
app.get("/admin", requireAuth({ anyOf: ["admin"] }), (c) => c.json({ ok: true }));

async function call(path: string, token?: string): Promise<Response> {
  return app.request(path, { headers: token ? { authorization: `Bearer ${token}` } : {} }, { JWT_SECRET: env.JWT_SECRET });
}

/** Asserts that the token is refused with 401 and that the handler never ran. */
async function refused(token: string | undefined, path = "/any"): Promise<void> {
  const before = ran;
  const res = await call(path, token);
  expect(res.status).toBe(401);
  expect(res.headers.get("WWW-Authenticate")).toContain("Bearer");
  expect(ran).toBe(before);
}

describe("requireAuth", () => {
  it("accepts a valid HS256 token and exposes the subject and scopes", async () => {
    const res = await call("/any", await hs(good()));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ sub: "svc" });
  });

  it("refuses a missing token and a token passed in the query string", async () => {
    await refused(undefined);
    const before = ran;
    const res = await app.request(`/any?token=${await hs(good())}&access_token=${await hs(good())}`, {}, { JWT_SECRET: env.JWT_SECRET });
    expect(res.status).toBe(401);
    expect(ran).toBe(before);
  });

  it("refuses alg none (unsigned token)", async () => {
    await refused(`${b64url({ alg: "none", typ: "JWT" })}.${b64url(good())}.`);
    await refused(`${b64url({ alg: "none", typ: "JWT" })}.${b64url(good())}.x`);
  });

  it("refuses an RS256 token and the algorithm confusion attack (re-signed as HS256 with the public key)", async () => {
    const { privateKey, publicKey } = await generateKeyPair("RS256");
    await refused(await new SignJWT(good()).setProtectedHeader({ alg: "RS256" }).sign(privateKey));
    const pem = await exportSPKI(publicKey);
    await refused(await hs(good(), "HS256", new TextEncoder().encode(pem)));
  });

  it("refuses a header alg other than the configured one, even with the right secret", async () => {
    await refused(await hs(good(), "HS512"));
    await refused(await hs(good(), "HS384"));
  });

  it("refuses exp of 0, a string exp, and a missing exp", async () => {
    await refused(await hs({ ...good(), exp: 0 }));
    await refused(await hs({ ...good(), exp: String(now() + 60) as unknown as number }));
    const { exp: _exp, ...noExp } = good();
    await refused(await hs(noExp));
  });

  it("refuses a wrong issuer, a wrong audience and a missing subject", async () => {
    await refused(await hs({ ...good(), iss: "someone-else" }));
    await refused(await hs({ ...good(), aud: "another-api" }));
    const { sub: _sub, ...noSub } = good();
    await refused(await hs(noSub));
  });

  it("refuses a token signed with another secret and a tampered payload", async () => {
    await refused(await hs(good(), "HS256", new TextEncoder().encode("not-the-secret")));
    const [h, , s] = (await hs(good())).split(".");
    await refused(`${h}.${b64url({ ...good(), scope: "admin" })}.${s}`);
  });

  it("answers 403 when the token lacks the scope, and lets admin through everywhere", async () => {
    expect((await call("/admin", await hs(good()))).status).toBe(403);
    expect((await call("/publish", await hs(good()))).status).toBe(200);
    expect((await call("/publish", await hs({ ...good(), scope: "admin" }))).status).toBe(200);
    expect((await call("/publish", await hs({ ...good(), scope: "read" }))).status).toBe(403);
  });
});

describe("requireAuth with a JSON Web Key Set (RS256/ES256 in production)", () => {
  async function keySet() {
    const es = await generateKeyPair("ES256", { extractable: true });
    const rs = await generateKeyPair("RS256", { extractable: true });
    const jwks = {
      keys: [
        { ...(await exportJWK(es.publicKey)), kid: "es", alg: "ES256" },
        { ...(await exportJWK(rs.publicKey)), kid: "rs", alg: "RS256" },
      ],
    };
    return { es, rs, jwks: JSON.stringify(jwks) };
  }
  const signed = (key: CryptoKey, alg: string, kid: string, payload = good()) =>
    new SignJWT(payload).setProtectedHeader({ alg, kid, typ: "JWT" }).sign(key);
  const callWith = (bindings: AuthEnv, token: string) => app.request("/any", { headers: { authorization: `Bearer ${token}` } }, bindings);

  it("accepts ES256 and RS256 tokens signed by a key in the set", async () => {
    const { es, rs, jwks } = await keySet();
    expect((await callWith({ JWT_JWKS: jwks }, await signed(es.privateKey, "ES256", "es"))).status).toBe(200);
    expect((await callWith({ JWT_JWKS: jwks }, await signed(rs.privateKey, "RS256", "rs"))).status).toBe(200);
  });

  it("refuses HS256 once a key set is configured, even with the right secret or HS256 listed in JWT_ALGORITHMS", async () => {
    const { jwks } = await keySet();
    const bindings = { JWT_JWKS: jwks, JWT_SECRET: env.JWT_SECRET, JWT_ALGORITHMS: "HS256,ES256" };
    expect((await callWith(bindings, await hs(good()))).status).toBe(401);
  });

  it("refuses a token signed by a key outside the set, an algorithm not allowed, and a wrong audience", async () => {
    const { es, jwks } = await keySet();
    const stranger = await generateKeyPair("ES256");
    expect((await callWith({ JWT_JWKS: jwks }, await signed(stranger.privateKey, "ES256", "es"))).status).toBe(401);
    expect((await callWith({ JWT_JWKS: jwks, JWT_ALGORITHMS: "RS256" }, await signed(es.privateKey, "ES256", "es"))).status).toBe(401);
    expect((await callWith({ JWT_JWKS: jwks }, await signed(es.privateKey, "ES256", "es", { ...good(), aud: "other" }))).status).toBe(401);
  });
});
