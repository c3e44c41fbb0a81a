import { parseArgs } from "node:util";
import { SignJWT } from "jose";
import { DEFAULT_AUDIENCE, DEFAULT_ISSUER } from "@foundation/service-kit";
import { localJwtSecret } from "./dev-vars.ts";

const { values } = parseArgs({
  options: {
    sub: { type: "string", default: "local-developer" },
    scope: { type: "string", default: "" },
    ttl: { type: "string", default: "3600" },
    help: { type: "boolean", short: "h", default: false },
  },
});

if (values.help) {
  console.log("usage: npm run --silent token -- [--sub NAME] [--scope a,b] [--ttl SECONDS]\nPrints an HS256 JWT the local stack accepts.");
  process.exit(0);
}

const ttl = Number(values.ttl);
if (!Number.isInteger(ttl) || ttl <= 0) {
  console.error(`token: --ttl must be a positive number of seconds, got "${values.ttl}"`);
  process.exit(2);
}

const scopes = values.scope
  .split(",")
  .map((s) => s.trim())
  .filter(Boolean);
const token = await new SignJWT({ scope: scopes.join(" ") })
  .setProtectedHeader({ alg: "HS256", typ: "JWT" })
  .setSubject(values.sub)
  .setIssuer(DEFAULT_ISSUER)
  .setAudience(DEFAULT_AUDIENCE)
  .setIssuedAt()
  .setExpirationTime(Math.floor(Date.now() / 1000) + ttl)
  .sign(new TextEncoder().encode(localJwtSecret()));
console.log(token);
