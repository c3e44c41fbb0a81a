import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import {
  ADMIN_SCOPE,
  HttpProblem,
  jsonBodiesOnly,
  MetricsBatch,
  requireAuth,
  shardCount,
  shardName,
  type AuthContext,
} from "@foundation/service-kit";
import type { GatewayEnv } from "../env.ts";

/** Answer of `POST /api/foundation/metrics`. */
export const IngestResponse = z
  .object({
    duplicate: z.boolean().describe("This (isolate, seq) was applied before; nothing changed"),
    conflicts: z.array(z.string()).describe("Families refused: their type or buckets differ from the aggregated ones"),
    dropped: z.number().int().describe("New series dropped because the aggregator is full"),
  })
  .openapi("MetricsIngestResponse");

const ingestRoute = createRoute({
  method: "post",
  path: "/",
  summary: "Send a batch of metric deltas to the aggregator (service token)",
  description:
    "Workers built with the service kit call this on their own (off the request path) when they do not bind the aggregator. A service token sends only its own service's metrics: `service` must be its subject, and so must every series' `service` label.",
  security: [{ bearer: [] }],
  request: { body: { content: { "application/json": { schema: MetricsBatch } }, required: true } },
  responses: {
    200: { description: "Applied, or recognised as a retry", content: { "application/json": { schema: IngestResponse } } },
    403: { description: "The batch speaks for another service" },
  },
});

/** A service token speaks for its own service only; admin tokens for any. */
function authorize(auth: AuthContext, batch: MetricsBatch): void {
  if (auth.scopes.has(ADMIN_SCOPE)) return;
  const foreign = batch.families.some((f) => f.samples.some((s) => s.labels.service !== undefined && s.labels.service !== batch.service));
  if (batch.service === auth.subject && !foreign) return;
  throw new HttpProblem(403, {
    slug: "forbidden-service",
    detail: `This token (subject ${auth.subject}) may only send metrics of the service named like its subject.`,
  });
}

/** `/api/foundation/metrics`: where workers without the aggregator binding send their metric deltas. */
export const metricsRoutes = new OpenAPIHono<GatewayEnv>();
metricsRoutes.use(jsonBodiesOnly());
metricsRoutes.use(requireAuth({ anyOf: ["service"] }));
metricsRoutes.openapi(ingestRoute, async (c) => {
  const batch = c.req.valid("json");
  authorize(c.var.auth, batch);
  const ns = c.env.METRICS_AGGREGATOR;
  const result = await ns.get(ns.idFromName(shardName(batch.isolate, shardCount(c.env)))).ingest(batch);
  return c.json({ duplicate: result.duplicate, conflicts: result.conflicts, dropped: result.dropped }, 200);
});
