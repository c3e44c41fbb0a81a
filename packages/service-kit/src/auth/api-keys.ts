import { apiKeys, createDb, type DbEnv } from "@foundation/db";
import { HttpProblem, setBounded } from "@foundation/core";
import { eq, isNull } from "drizzle-orm";
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

/** Most keys (known and unknown) an isolate remembers; the oldest go first. */
export const MAX_CACHED_KEYS = 10_000;
/** Most client addresses whose key lookups an isolate counts. */
const MAX_CLIENTS = 10_000;
/** Key lookups a client address may make per minute in an isolate, beyond which it gets 429 before any query. */
export const LOOKUPS_PER_CLIENT_PER_MINUTE = 20;
/** The known prefixes are read again at most this often when a key's prefix is not among them. */
const PREFIX_REFRESH_MS = 1000;

const lookups = new Map<string, { record: ApiKeyRecord | undefined; until: number }>();
/** The public prefixes of the keys that can be valid, so that a random key is refused without a query of its own. */
let prefixes: { set: ReadonlySet<string>; at: number; loading?: Promise<ReadonlySet<string>> } = { set: new Set(), at: -Infinity };
const clients = new Map<string, { windowStart: number; count: number }>();

/** How many entries the isolate's key caches hold: each stays within its bound. */
export function apiKeyCacheSizes(): { keys: number; prefixes: number; clients: number } {
  return { keys: lookups.size, prefixes: prefixes.set.size, clients: clients.size };
}

/** Adds a prefix to the known ones at once, so a key created in this isolate works here before the next read. */
export function rememberApiKeyPrefix(prefix: string): void {
  prefixes = { ...prefixes, set: new Set([...prefixes.set, prefix]) };
}

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

const unavailable = (err: unknown) =>
  new HttpProblem(503, {
    slug: "auth-unavailable",
    detail: "API keys cannot be checked right now; retry, or use a bearer token.",
    headers: { "Retry-After": "5" },
    cause: err,
  });

/** Whether a key with this prefix can exist: one query for every prefix, at most once a second, instead of one per key. */
async function knownPrefix(prefix: string, env: DbEnv, now: number): Promise<boolean> {
  if (prefixes.set.has(prefix) || now - prefixes.at < PREFIX_REFRESH_MS) return prefixes.set.has(prefix);
  prefixes.loading ??= createDb(env)
    .select({ prefix: apiKeys.prefix })
    .from(apiKeys)
    .where(isNull(apiKeys.revokedAt))
    .then((rows) => {
      prefixes = { set: new Set(rows.map((r) => r.prefix)), at: now };
      return prefixes.set;
    })
    .finally(() => {
      prefixes.loading = undefined;
    });
  try {
    return (await prefixes.loading).has(prefix);
  } catch (err) {
    throw unavailable(err);
  }
}

/** Counts a lookup for a client address; a 429 past {@link LOOKUPS_PER_CLIENT_PER_MINUTE}, before any query. */
function countLookup(client: string | undefined, now: number): void {
  if (client === undefined) return;
  const seen = clients.get(client);
  const window = seen && now - seen.windowStart < 60_000 ? seen : { windowStart: now, count: 0 };
  if (window.count >= LOOKUPS_PER_CLIENT_PER_MINUTE) {
    throw new HttpProblem(429, {
      slug: "too-many-key-lookups",
      detail: "Too many API key checks from this address; retry later.",
      headers: { "Retry-After": String(Math.ceil((window.windowStart + 60_000 - now) / 1000)) },
    });
  }
  setBounded(clients, client, { windowStart: window.windowStart, count: window.count + 1 }, MAX_CLIENTS);
}

async function lookup(hash: string, env: DbEnv, now: number, client: string | undefined): Promise<ApiKeyRecord | undefined> {
  const cached = lookups.get(hash);
  if (cached && cached.until > now) return cached.record;
  countLookup(client, now);
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
    throw unavailable(err);
  }
  const record = rows[0];
  setBounded(lookups, hash, { record, until: now + API_KEY_CACHE_MS }, MAX_CACHED_KEYS);
  return record;
}

/**
 * Verifies an API key against the store, cheapest check first: its format; its public prefix against the prefixes
 * of keys that exist (read at most once a second, so random keys cost no query each); the isolate's cache of
 * looked-up keys, known and unknown ({@link API_KEY_CACHE_MS}, at most {@link MAX_CACHED_KEYS}); then one query,
 * at most {@link LOOKUPS_PER_CLIENT_PER_MINUTE} a minute per client address. 401 for a malformed, unknown, revoked
 * or expired key, 429 for a client over its lookups, 503 when the store cannot be reached (never let a key through
 * unchecked).
 */
export async function verifyApiKey(key: string, env: Partial<DbEnv>, now: () => number = Date.now, client?: string): Promise<AuthContext> {
  const format = KEY_FORMAT.exec(key);
  if (!format?.[1]) throw refused("The API key is malformed.");
  if (!env.DATABASE_URL) throw refused("API keys are not accepted here; use a bearer token.");
  const at = now();
  if (!(await knownPrefix(format[1], env as DbEnv, at))) throw refused("The API key is unknown, revoked or expired.");
  const record = await lookup(await hashApiKey(key), env as DbEnv, at, client);
  if (!record || record.revokedAt || (record.expiresAt && record.expiresAt.getTime() <= at)) {
    throw refused("The API key is unknown, revoked or expired.");
  }
  return {
    subject: record.subject,
    scopes: new Set(record.scopes),
    claims: { sub: record.subject, scope: record.scopes.join(" "), jti: record.id },
  };
}
