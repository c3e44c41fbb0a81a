import { parseArgs } from "node:util";
import { SERVICE_NAME } from "@foundation/core";
import { serviceSecret } from "@foundation/event-bus/subscriber";
import { localSecret } from "./dev-vars.ts";

/**
 * `npm run --silent service-secret -- <service>`: prints the `EVENT_SIGNING_SECRET` a service verifies its
 * deliveries with, derived from the bus's own (the gateway's `EVENT_SIGNING_SECRET`: taken from the environment
 * when set, else the local one in .dev.vars). For a deployed service:
 *   EVENT_SIGNING_SECRET=… npm run --silent service-secret -- billing | npx wrangler secret put EVENT_SIGNING_SECRET -c workers/billing/wrangler.toml --env production
 */
const { positionals, values } = parseArgs({ allowPositionals: true, options: { help: { type: "boolean", short: "h", default: false } } });
const [service] = positionals;
if (values.help || !service || positionals.length > 1) {
  console.error("usage: npm run --silent service-secret -- <service>");
  process.exit(values.help ? 0 : 2);
}
if (!SERVICE_NAME.test(service)) {
  console.error(`service-secret: "${service}" is not a service name (1-64 characters of a-z, 0-9 and -)`);
  process.exit(2);
}
console.log(await serviceSecret(process.env.EVENT_SIGNING_SECRET || localSecret("EVENT_SIGNING_SECRET"), service));
