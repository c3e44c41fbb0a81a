/** Header carrying the delivery signature: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`. */
export const SIGNATURE_HEADER = "Foundation-Signature";

/** How far a signature's timestamp may be from the receiver's clock before it is refused as a replay. */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

const encoder = new TextEncoder();

async function hmacHex(secret: string, message: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = await crypto.subtle.sign("HMAC", key, encoder.encode(message));
  return [...new Uint8Array(mac)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Signs a delivery body (Stripe-style): the timestamp is inside the MAC, so a captured request cannot be
 * replayed after the tolerance, and receivers deduplicate inside it by event id.
 * @example headers.set(SIGNATURE_HEADER, await signDelivery(secret, body, Date.now()));
 */
export async function signDelivery(secret: string, body: string, nowMs: number): Promise<string> {
  const t = Math.floor(nowMs / 1000);
  return `t=${t},v1=${await hmacHex(secret, `${t}.${body}`)}`;
}

/** Why a signature was refused. */
export type SignatureFailure = "missing" | "malformed" | "expired" | "mismatch";

/** Checks a delivery signature in constant time; resolves to null when valid, else the reason. */
export async function verifyDelivery(
  secret: string,
  body: string,
  header: string | null | undefined,
  nowMs: number,
): Promise<SignatureFailure | null> {
  if (!header) return "missing";
  const m = /^t=(\d{1,12}),v1=([0-9a-f]{64})$/.exec(header);
  if (!m?.[1] || !m[2]) return "malformed";
  const t = Number(m[1]);
  if (Math.abs(nowMs / 1000 - t) > SIGNATURE_TOLERANCE_SECONDS) return "expired";
  const expected = await hmacHex(secret, `${t}.${body}`);
  let diff = 0;
  for (let i = 0; i < expected.length; i++) diff |= expected.charCodeAt(i) ^ m[2].charCodeAt(i);
  return diff === 0 ? null : "mismatch";
}
