import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { RegistryCache, RegistryClient, DEFAULT_MAX_STALENESS_MS } from "@foundation/registry";
import { requireAuth } from "@foundation/service-kit";
import { uptimeOf } from "../uptime/checks.ts";
import type { GatewayEnv } from "../env.ts";

const ratio = z.number().min(0).max(1).nullable();

/** The uptime of one instance. */
export const InstanceUptimeView = z
  .object({
    service: z.string(),
    instanceId: z.string(),
    uptime24h: ratio.describe("Share of passing probes in the last 24 hours; null without probes"),
    uptime7d: ratio.describe("Same over 7 days"),
    uptime30d: ratio.describe("Same over 30 days"),
    lastCheckAt: z.string().nullable().describe("When the gateway last probed the instance's /health"),
    lastOk: z.boolean().nullable().describe("Whether that probe passed"),
  })
  .openapi("InstanceUptime");

const uptimeRoute = createRoute({
  method: "get",
  path: "/",
  summary: "Uptime of every registered instance over 24 h, 7 d and 30 d (any token)",
  description:
    "From the gateway's uptime checks: a cron trigger probes every registered instance's `/health` each minute and keeps the results in Postgres.",
  security: [{ bearer: [] }],
  middleware: [requireAuth()] as const,
  responses: {
    200: {
      description: "Uptime per instance",
      content: { "application/json": { schema: z.object({ instances: z.array(InstanceUptimeView) }) } },
    },
  },
});

const cache = new RegistryCache({ maxStalenessMs: DEFAULT_MAX_STALENESS_MS });

/** `/api/foundation/uptime`: what the uptime checks measured. */
export const uptimeRoutes = new OpenAPIHono<GatewayEnv>();
uptimeRoutes.openapi(uptimeRoute, async (c) => {
  const services = await new RegistryClient(c.env, { cache }).services();
  return c.json({ instances: await uptimeOf(c.env, services, Date.now()) }, 200);
});
