/**
 * Subscription secrets at rest: a subscriber's `whsec_` secret must be kept readable (HMAC signs with the secret
 * itself, so a hash will not do), so it is stored sealed with AES-256-GCM under a key derived from the bus's
 * `EVENT_SIGNING_SECRET`. A database dump alone reveals no secret.
 */
/** A WebCrypto key (named without the DOM or Workers type `CryptoKey`, so Node programs type-check this too). */
type SubtleKey = Awaited<ReturnType<typeof crypto.subtle.importKey>>;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const b64 = (bytes: Uint8Array) => btoa(String.fromCharCode(...bytes));
const unb64 = (text: string) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));

const sealingKeys = new Map<string, Promise<SubtleKey>>();

function sealingKey(master: string): Promise<SubtleKey> {
  let key = sealingKeys.get(master);
  if (!key) {
    key = (async () => {
      const hmac = await crypto.subtle.importKey("raw", encoder.encode(master), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
      const raw = await crypto.subtle.sign("HMAC", hmac, encoder.encode("subscription-secrets"));
      return crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
    })();
    sealingKeys.set(master, key);
  }
  return key;
}

/**
 * Seals a secret for storage: `v1.<iv>.<ciphertext>`, base64.
 * @example const sealed = await sealSecret(env.EVENT_SIGNING_SECRET, secret);
 */
export async function sealSecret(master: string, secret: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, await sealingKey(master), encoder.encode(secret));
  return `v1.${b64(iv)}.${b64(new Uint8Array(sealed))}`;
}

/**
 * Opens a sealed secret; throws when it was sealed under another key or altered.
 * @example const secret = await openSecret(env.EVENT_SIGNING_SECRET, config.secret);
 */
export async function openSecret(master: string, sealed: string): Promise<string> {
  const [version, iv, data] = sealed.split(".");
  if (version !== "v1" || !iv || !data) throw new Error("not a sealed secret");
  const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: unb64(iv) }, await sealingKey(master), unb64(data));
  return decoder.decode(plain);
}
