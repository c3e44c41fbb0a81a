import { HttpProblem } from "@foundation/core";
import { errors, jwtVerify, SignJWT } from "jose";

/** Seconds a live ticket stays valid for opening a connection (an open connection outlives it). */
export const TICKET_TTL_SECONDS = 60;

/** The `aud` of a live ticket: no other route accepts it, and it is signed with a key of its own. */
const TICKET_AUDIENCE = "foundation:live";

const encoder = new TextEncoder();

/**
 * The ticket signing key: derived from the gateway's `EVENT_SIGNING_SECRET` for this one purpose, so a ticket can
 * never pass as a bearer token, a service identity or a webhook signature.
 */
async function ticketKey(secret: string | undefined): Promise<Uint8Array> {
  if (!secret) {
    throw new HttpProblem(503, { slug: "live-not-configured", detail: "Live tickets need the gateway's EVENT_SIGNING_SECRET." });
  }
  const key = await crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode("purpose:live-tickets")));
}

/** A ticket as issued. */
export interface LiveTicket {
  ticket: string;
  expiresAt: string;
}

/**
 * Issues a short-lived ticket that opens live connections to one stream for `subject`: a browser cannot set headers
 * on `EventSource` or `WebSocket`, so it puts this in the URL instead of a long-lived token.
 * @example const { ticket } = await issueTicket(env.EVENT_SIGNING_SECRET, "alice", "orders");
 */
export async function issueTicket(
  secret: string | undefined,
  subject: string,
  stream: string,
  now: number = Date.now(),
): Promise<LiveTicket> {
  const iat = Math.floor(now / 1000);
  const exp = iat + TICKET_TTL_SECONDS;
  const ticket = await new SignJWT({ stream })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(subject)
    .setAudience(TICKET_AUDIENCE)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .setJti(crypto.randomUUID())
    .sign(await ticketKey(secret));
  return { ticket, expiresAt: new Date(exp * 1000).toISOString() };
}

/**
 * The subject a ticket was issued to, when it is valid now and for `stream`; a 401 problem otherwise (expired,
 * for another stream, or not a ticket).
 */
export async function verifyTicket(secret: string | undefined, ticket: string, stream: string, now: number = Date.now()): Promise<string> {
  const unauthorized = (detail: string) => new HttpProblem(401, { slug: "invalid-ticket", detail });
  if (ticket.length > 2048) throw unauthorized("The ticket is not one this gateway issued.");
  try {
    const { payload } = await jwtVerify(ticket, await ticketKey(secret), {
      algorithms: ["HS256"],
      audience: TICKET_AUDIENCE,
      requiredClaims: ["exp", "sub", "stream"],
      currentDate: new Date(now),
    });
    if (payload.stream !== stream) throw unauthorized("The ticket is for another stream.");
    if (typeof payload.sub !== "string" || payload.sub === "") throw unauthorized("The ticket has no subject.");
    return payload.sub;
  } catch (err) {
    if (err instanceof HttpProblem) throw err;
    if (err instanceof errors.JWTExpired) throw unauthorized("The ticket has expired; ask for a new one.");
    throw unauthorized("The ticket is not one this gateway issued.");
  }
}
