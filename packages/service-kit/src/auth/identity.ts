import { HttpProblem } from "@foundation/core";
import { errors, jwtVerify, SignJWT } from "jose";
import { scopesOf } from "./scopes.ts";
import { VerifiedTokenCache } from "./token-cache.ts";
import type { AuthContext } from "./types.ts";

/**
 * The caller's identity as the gateway asserts it to a service behind it. The gateway does not pass the caller's
 * own credentials on (a token valid for every service, an API key, cookies); it sends this short-lived JWT instead:
 * HS256, `iss` the gateway, `aud` the one service it is for, the caller's subject and scopes. Its key is derived
 * from that service's own secret (its `EVENT_SIGNING_SECRET`), so only that service can verify it and no other
 * service can mint one for it.
 */

/** The header that carries the assertion. */
export const IDENTITY_HEADER = "X-Foundation-Identity";
/** The assertion's issuer. */
export const IDENTITY_ISSUER = "foundation-gateway";
/** How long an assertion is valid: the time one proxied request takes, with room for clock skew. */
export const IDENTITY_TTL_SECONDS = 60;

const encoder = new TextEncoder();
const keys = new Map<string, Promise<Uint8Array>>();
/** Seconds of clock skew `exp` and `iat` tolerate. */
const CLOCK_TOLERANCE_SECONDS = 5;
/**
 * Assertions this isolate verified: the gateway reuses one per caller and service for half its minute, so a service
 * behind it checks the HMAC once per caller every 30 s instead of on every request.
 */
const verifiedAssertions = new VerifiedTokenCache<AuthContext>(1000);

/** The HS256 key of a service's assertions: HMAC of its secret, so the secret itself never signs two kinds of things. */
function identityKey(serviceSecret: string): Promise<Uint8Array> {
  let key = keys.get(serviceSecret);
  if (!key) {
    key = (async () => {
      const hmac = await crypto.subtle.importKey("raw", encoder.encode(serviceSecret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
      return new Uint8Array(await crypto.subtle.sign("HMAC", hmac, encoder.encode("foundation-identity")));
    })();
    if (keys.size >= 1000) keys.clear();
    keys.set(serviceSecret, key);
  }
  return key;
}

/**
 * Signs an assertion of `caller` for `service` with that service's secret.
 * @example headers.set(IDENTITY_HEADER, await signIdentity(await serviceSecret(master, "billing"), "billing", c.var.auth, Date.now()));
 */
export async function signIdentity(serviceSecret: string, service: string, caller: AuthContext, nowMs: number): Promise<string> {
  const now = Math.floor(nowMs / 1000);
  return new SignJWT({ scope: [...caller.scopes].join(" ") })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuer(IDENTITY_ISSUER)
    .setAudience(service)
    .setSubject(caller.subject)
    .setIssuedAt(now)
    .setExpirationTime(now + IDENTITY_TTL_SECONDS)
    .sign(await identityKey(serviceSecret));
}

/**
 * Verifies an assertion for `service` with the service's own secret; a 401 problem for anything else (another
 * service's assertion, an expired or altered one).
 * @example const caller = await verifyIdentity(env.EVENT_SIGNING_SECRET, "billing", c.req.header(IDENTITY_HEADER), Date.now());
 */
export async function verifyIdentity(serviceSecret: string, service: string, token: string, nowMs: number): Promise<AuthContext> {
  const settings = `${service}\u0000${serviceSecret}`;
  const known = verifiedAssertions.get(settings, token, nowMs);
  if (known) return known;
  try {
    const { payload } = await jwtVerify(token, await identityKey(serviceSecret), {
      algorithms: ["HS256"],
      issuer: IDENTITY_ISSUER,
      audience: service,
      requiredClaims: ["exp", "iat", "sub"],
      currentDate: new Date(nowMs),
      clockTolerance: CLOCK_TOLERANCE_SECONDS,
    });
    const caller: AuthContext = Object.freeze({ subject: payload.sub ?? "", scopes: scopesOf(payload), claims: Object.freeze(payload) });
    // Good for as long as jwtVerify would accept it again: until `exp` plus the tolerance.
    verifiedAssertions.set(settings, token, caller, (payload.exp ?? 0) + CLOCK_TOLERANCE_SECONDS, nowMs);
    return caller;
  } catch (err) {
    const detail =
      err instanceof errors.JWTExpired ? "The gateway's identity assertion has expired." : "The identity assertion is invalid.";
    throw new HttpProblem(401, { slug: "unauthorized", detail, headers: { "WWW-Authenticate": 'Bearer realm="foundation"' } });
  }
}
