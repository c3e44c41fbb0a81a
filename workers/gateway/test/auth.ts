import { env } from "cloudflare:workers";
import { SignJWT } from "jose";

/** Signs a token the gateway accepts: HS256 with the test run's secret, 5 minutes, local issuer and audience. */
export async function token(scope: string, sub = "tester"): Promise<string> {
  return new SignJWT({ scope })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject(sub)
    .setIssuer("foundation-local")
    .setAudience("foundation")
    .setExpirationTime("5m")
    .sign(new TextEncoder().encode(env.JWT_SECRET));
}
