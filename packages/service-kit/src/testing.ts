import { env } from "cloudflare:workers";
import { SignJWT } from "jose";
import { DEFAULT_AUDIENCE, DEFAULT_ISSUER } from "./config.ts";

/**
 * For tests in workerd: a token the gateway accepts, signed with the test run's `JWT_SECRET` binding
 * (HS256, local issuer and audience, 5 minutes).
 * @example const res = await SELF.fetch("http://gw.test/api/billing/invoices", { headers: { authorization: `Bearer ${await testToken("read")}` } });
 */
export function testToken(scope: string, sub = "tester"): Promise<string> {
  const secret = (env as { JWT_SECRET?: string }).JWT_SECRET;
  if (!secret) throw new Error("testToken needs a JWT_SECRET binding (vitest.config.ts sets one per run)");
  return new SignJWT({ scope })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(sub)
    .setIssuer(DEFAULT_ISSUER)
    .setAudience(DEFAULT_AUDIENCE)
    .setExpirationTime("5m")
    .sign(new TextEncoder().encode(secret));
}
