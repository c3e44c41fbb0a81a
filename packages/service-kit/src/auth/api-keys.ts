import { apiKeys, createDb, type DbEnv } from "@foundation/db";
import { eq } from "drizzle-orm";
import { HttpProblem } from "@foundation/core";
import type { AuthContext } from "./types.ts";

/** The header that carries an API key. */
export const API_KEY_HEADER = "X-Api-Key";

/** How long an isolate trusts a key lookup; a revoked key stops working everywhere within this bound. */
export const API_KEY_CACHE_MS = 30_000;

/** `fnd_` + an 8-character public prefix + `_` + 256 random bits (base64url). */
const KEY_FORMAT = /^fnd_([A-Za-z0-9]{8})_[A-Za-z0-9_-]{43}$/;
const PREFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** What the store says of a key. */
export interface ApiKeyRecord {
  id: string;
  subject: string;
  scopes: string[];
  expiresAt: Date | null;
  revokedAt: Date | null;
}

const lookups = new Map<string, { record: ApiKeyRecord | undefined; until: number }>();

function base64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");
}

/** The SHA-256 of a key, hex: what the store keeps instead of the key. */
export async function hashApiKey(key: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key)));
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * A new random key, its public prefix and its hash. The key itself is shown once to its creator and
 * never stored.
 */
export async function generateApiKey(): Promise<{ key: string; prefix: string; hash: string }> {
  const random = crypto.getRandomValues(new Uint8Array(40));
  const prefix = [...random.slice(0, 8)].map((b) => PREFIX_ALPHABET[b % PREFIX_ALPHABET.length]).join("");
  const key = `fnd_${prefix}_${base64url(random.slice(8))}`;
  return { key, prefix, hash: await hashApiKey(key) };
}

/** Forgets a cached lookup, e.g. right after revoking the key in this isolate. */
export function forgetApiKey(hash: string): void {
  lookups.delete(hash);
}

function refused(detail: string): HttpProblem {
  return new HttpProblem(401, { slug: "unauthorized", detail, headers: { "WWW-Authenticate": 'Bearer realm="foundation"' } });
}

async function lookup(hash: string, env: DbEnv, now: number): Promise<ApiKeyRecord | undefined> {
  const cached = lookups.get(hash);
  if (cached && cached.until > now) return cached.record;
  let rows: ApiKeyRecord[];
  try {
    rows = await createDb(env)
      .select({
        id: apiKeys.id,
        subject: apiKeys.subject,
        scopes: apiKeys.scopes,
        expiresAt: apiKeys.expiresAt,
        revokedAt: apiKeys.revokedAt,
      })
      .from(apiKeys)
      .where(eq(apiKeys.hash, hash))
      .limit(1);
  } catch (err) {
    throw new HttpProblem(503, {
      slug: "auth-unavailable",
      detail: "API keys cannot be checked right now; retry, or use a bearer token.",
      headers: { "Retry-After": "5" },
      cause: err,
    });
  }
  const record = rows[0];
  lookups.set(hash, { record, until: now + API_KEY_CACHE_MS });
  return record;
}

/**
 * Verifies an API key against the store (Postgres, cached per isolate for {@link API_KEY_CACHE_MS}):
 * 401 for a malformed, unknown, revoked or expired key; 503 when the store cannot be reached and the
 * key is not cached (never let a key through unchecked).
 */
export async function verifyApiKey(key: string, env: Partial<DbEnv>, now: () => number = Date.now): Promise<AuthContext> {
  if (!KEY_FORMAT.test(key)) throw refused("The API key is malformed.");
  if (!env.DATABASE_URL) throw refused("API keys are not accepted here; use a bearer token.");
  const at = now();
  const record = await lookup(await hashApiKey(key), env as DbEnv, at);
  if (!record || record.revokedAt || (record.expiresAt && record.expiresAt.getTime() <= at)) {
    throw refused("The API key is unknown, revoked or expired.");
  }
  return {
    subject: record.subject,
    scopes: new Set(record.scopes),
    claims: { sub: record.subject, scope: record.scopes.join(" "), jti: record.id },
  };
}
