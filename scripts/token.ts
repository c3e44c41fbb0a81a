import { parseArgs } from "node:util";
import { signLocalToken } from "./dev-vars.ts";

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
console.log(await signLocalToken(values.sub, scopes, ttl));
