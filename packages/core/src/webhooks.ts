/**
 * Standard Webhooks v1 signatures (standardwebhooks.com): what every delivery carries, to a subscriber URL and
 * to a service alike. The signed text is `{webhook-id}.{webhook-timestamp}.{body}`, the signature
 * `v1,<base64 HMAC-SHA256>`, and secrets are `whsec_<base64 key>`. Any Standard Webhooks library verifies them.
 */

/** A WebCrypto key (named without the DOM or Workers type `CryptoKey`, so Node programs type-check this too). */
type HmacKey = Awaited<ReturnType<typeof crypto.subtle.importKey>>;

/** The message id: the same for every attempt of one delivery, so a receiver can deduplicate on it. */
export const WEBHOOK_ID = "webhook-id";
/** Unix seconds when the attempt was signed. */
export const WEBHOOK_TIMESTAMP = "webhook-timestamp";
/** Space-separated `v1,<signature>` entries: two while a secret is being rotated. */
export const WEBHOOK_SIGNATURE = "webhook-signature";

/** How far a signature's timestamp may be from the receiver's clock before it is refused as a replay. */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

const SECRET_PREFIX = "whsec_";
const encoder = new TextEncoder();

function base64(bytes: Uint8Array): string {
  let text = "";
  for (const b of bytes) text += String.fromCharCode(b);
  return btoa(text);
}

function unbase64(text: string): Uint8Array {
  const raw = atob(text);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

/** HMAC keys by secret: importing a key costs more than signing a small body. */
const keys = new Map<string, Promise<HmacKey>>();

function hmacKey(secret: string): Promise<HmacKey> {
  let key = keys.get(secret);
  if (!key) {
    // A `whsec_` secret is base64; any other (the bus's own) is used as its UTF-8 bytes.
    const raw = secret.startsWith(SECRET_PREFIX) ? unbase64(secret.slice(SECRET_PREFIX.length)) : encoder.encode(secret);
    key = crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
    if (keys.size >= 1000) keys.clear();
    keys.set(secret, key);
  }
  return key;
}

/**
 * A new random secret, `whsec_` and 32 random bytes in base64.
 * @example const secret = newWebhookSecret(); // "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw..."
 */
export function newWebhookSecret(): string {
  return SECRET_PREFIX + base64(crypto.getRandomValues(new Uint8Array(32)));
}

/**
 * The secret of one service, derived from the bus's own `EVENT_SIGNING_SECRET`: each service verifies with its
 * own, so no service (and no subscriber URL) can sign deliveries to another. Give a service this value as its
 * `EVENT_SIGNING_SECRET`.
 * @example await serviceSecret(env.EVENT_SIGNING_SECRET, "example") // "whsec_…"
 */
export async function serviceSecret(master: string, service: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(master), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return SECRET_PREFIX + base64(new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(`service:${service}`))));
}

/**
 * The `webhook-signature` value for a message, one `v1,` entry per secret (the current one first).
 * @example headers.set(WEBHOOK_SIGNATURE, await signWebhook([secret], id, Math.floor(Date.now() / 1000), body));
 */
export async function signWebhook(secrets: readonly string[], id: string, timestamp: number, body: string): Promise<string> {
  const content = encoder.encode(`${id}.${timestamp}.${body}`);
  const signatures = await Promise.all(
    secrets.map(async (s) => `v1,${base64(new Uint8Array(await crypto.subtle.sign("HMAC", await hmacKey(s), content)))}`),
  );
  return signatures.join(" ");
}

/** The three Standard Webhooks headers of a signed message. */
export async function webhookHeaders(secrets: readonly string[], id: string, nowMs: number, body: string): Promise<Record<string, string>> {
  const timestamp = Math.floor(nowMs / 1000);
  return { [WEBHOOK_ID]: id, [WEBHOOK_TIMESTAMP]: String(timestamp), [WEBHOOK_SIGNATURE]: await signWebhook(secrets, id, timestamp, body) };
}

/** Why a signature was refused. */
export type SignatureFailure = "missing" | "malformed" | "expired" | "mismatch";

/**
 * Verifies a message's Standard Webhooks headers with `secret`: any `v1` entry that matches, within the
 * timestamp tolerance. Resolves to null when valid, else the reason.
 * @example const failure = await verifyWebhook(secret, (n) => req.headers.get(n), body, Date.now());
 */
export async function verifyWebhook(
  secret: string,
  header: (name: string) => string | null | undefined,
  body: string,
  nowMs: number,
): Promise<SignatureFailure | null> {
  const id = header(WEBHOOK_ID);
  const timestamp = header(WEBHOOK_TIMESTAMP);
  const signature = header(WEBHOOK_SIGNATURE);
  if (!id || !timestamp || !signature) return "missing";
  if (!/^\d{1,12}$/.test(timestamp)) return "malformed";
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > SIGNATURE_TOLERANCE_SECONDS) return "expired";
  const content = encoder.encode(`${id}.${timestamp}.${body}`);
  const key = await hmacKey(secret);
  let wellFormed = false;
  for (const entry of signature.split(" ")) {
    const [version, value] = entry.split(",", 2);
    if (version !== "v1" || !value) continue;
    let mac: Uint8Array;
    try {
      mac = unbase64(value);
    } catch {
      continue;
    }
    wellFormed = true;
    // crypto.subtle.verify compares in constant time.
    if (await crypto.subtle.verify("HMAC", key, mac, content)) return null;
  }
  return wellFormed ? "mismatch" : "malformed";
}
