import { SignJWT } from "jose";

/** The HS256 secret every bench gateway is served with. */
export const BENCH_JWT_SECRET = "bench-only-secret";
/** The gateway's `EVENT_SIGNING_SECRET` in the benches; each service gets its own, derived with `serviceSecret`. */
export const BENCH_SIGNING_SECRET = "bench-only-signing-secret";

/** An admin token (publish, subscribe, register, read) the bench gateways accept, valid for two hours. */
export function benchToken(): Promise<string> {
  return new SignJWT({ scope: "admin" })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject("bench")
    .setIssuer("foundation-local")
    .setAudience("foundation")
    .setExpirationTime("2h")
    .sign(new TextEncoder().encode(BENCH_JWT_SECRET));
}
