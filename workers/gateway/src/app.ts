import { workerMetrics } from "@foundation/core";
import { createService } from "@foundation/service-kit";
import { dashboardRoutes } from "./dashboard/routes.ts";
import { routeRateLimits } from "./rate-limits.ts";
import { registryFamilies } from "./registry-metrics.ts";
import { routeAuth } from "./route-auth.ts";
import { foundationRoutes } from "./routes/index.ts";
import { serviceProxy } from "./service-proxy.ts";

/** Route quotas (`RATE_LIMIT_POLICIES`) apply to every path: the API, and the public `/health`, `/metrics`, `/dashboard` and `/docs`. */
const quotas = routeRateLimits(workerMetrics);

/**
 * The gateway: the kit's health and metrics, Foundation's own API under `/api/foundation`, and every other
 * `/api/:service/*` routed to a healthy instance of that service (see `service-proxy.ts`).
 */
export const app = createService<Env>({
  name: "gateway",
  version: "0.1.0",
  jsonBodiesOnly: false,
  bodyLimitBytes: 10 * 1024 * 1024,
  metrics: workerMetrics,
  aggregatedMetrics: true,
  scrapeFamilies: registryFamilies,
  guard: quotas,
});

app.use("*", quotas);
app.use("/api/*", routeAuth());
app.route("/api/foundation", foundationRoutes);

app.openAPIRegistry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer", bearerFormat: "JWT" });
app.doc31("/openapi.json", {
  openapi: "3.1.0",
  info: {
    title: "Foundation API",
    version: "0.1.0",
    description: "RankMyBrand's edge infrastructure: event bus, service registry, rate limiter and gateway.",
  },
});

app.route("/dashboard", dashboardRoutes);
app.all("/api/:service/*", serviceProxy({ metrics: app.metrics }));
