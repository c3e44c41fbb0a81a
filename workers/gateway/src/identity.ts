import { setBounded } from "@foundation/core";
import { serviceSecret } from "@foundation/event-bus/subscriber";
import { IDENTITY_TTL_SECONDS, signIdentity, type AuthContext } from "@foundation/service-kit";

/** Assertions this isolate minted, reused while they have more than half their life left: one HMAC per caller and service per half minute. */
const minted = new Map<string, { token: string; until: number }>();
const secrets = new Map<string, Promise<string>>();
const MAX_MINTED = 10_000;

/**
 * The identity assertion of `caller` for `service` (see `signIdentity`), signed with the service's secret derived
 * from the gateway's `EVENT_SIGNING_SECRET`.
 * @example ctx.identity = await identityFor(c.env.EVENT_SIGNING_SECRET, "billing", c.var.auth);
 */
export async function identityFor(master: string, service: string, caller: AuthContext, now = Date.now()): Promise<string> {
  const key = `${service}\u0000${caller.subject}\u0000${[...caller.scopes].sort().join(" ")}`;
  const known = minted.get(key);
  if (known && known.until > now) return known.token;
  let secret = secrets.get(service);
  if (!secret) secrets.set(service, (secret = serviceSecret(master, service)));
  const token = await signIdentity(await secret, service, caller, now);
  setBounded(minted, key, { token, until: now + (IDENTITY_TTL_SECONDS * 1000) / 2 }, MAX_MINTED);
  return token;
}
