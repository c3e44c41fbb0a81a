import { OpenAPIHono } from "@hono/zod-openapi";
import type { GatewayEnv } from "../env.ts";
import { apiKeysRoutes } from "./api-keys.ts";
import { collectionsRoutes } from "./collections.ts";
import { eventsRoutes } from "./events.ts";
import { liveRoutes } from "./live.ts";
import { logsRoutes, tracesRoutes } from "./logs.ts";
import { metricsRoutes } from "./metrics.ts";
import { queuesRoutes } from "./queues.ts";
import { ratelimitRoutes } from "./ratelimit.ts";
import { servicesRoutes } from "./services.ts";
import { subscriptionsRoutes } from "./subscriptions.ts";
import { uptimeRoutes } from "./uptime.ts";

/** Foundation's own API, mounted at `/api/foundation`; one module per capability. */
export const foundationRoutes = new OpenAPIHono<GatewayEnv>()
  .route("/ratelimit", ratelimitRoutes)
  .route("/services", servicesRoutes)
  .route("/events", eventsRoutes)
  .route("/events", liveRoutes)
  .route("/subscriptions", subscriptionsRoutes)
  .route("/queues", queuesRoutes)
  .route("/collections", collectionsRoutes)
  .route("/api-keys", apiKeysRoutes)
  .route("/metrics", metricsRoutes)
  .route("/uptime", uptimeRoutes)
  .route("/logs", logsRoutes)
  .route("/traces", tracesRoutes);
