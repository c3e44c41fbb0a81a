import { createService, HttpProblem } from "@foundation/service-kit";
import { serviceBinding, upstreamRequest } from "./forward.ts";
import { routeRateLimits } from "./rate-limits.ts";
import { foundationRoutes } from "./routes/index.ts";

/**
 * The gateway: the kit's health and metrics, Foundation's own API under `/api/foundation`, and every other
 * `/api/:service/*` forwarded to that service's binding.
 */
export const app = createService<Env>({ name: "gateway", version: "0.1.0", jsonBodiesOnly: false, bodyLimitBytes: 10 * 1024 * 1024 });

app.use("/api/*", routeRateLimits(app.metrics));
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

app.all("/api/:service/*", async (c) => {
  const service = c.req.param("service");
  const binding = serviceBinding(c.env, service);
  if (!binding) throw new HttpProblem(404, { slug: "unknown-service", detail: `No service named "${service}" is routed by this gateway.` });
  const prefix = `/api/${service}`;
  const url = new URL(c.req.url);
  const upstreamPath = url.pathname.slice(prefix.length) || "/";
  const req = upstreamRequest(
    c.req.raw,
    upstreamPath,
    {
      correlationId: c.var.correlationId,
      clientIp: c.req.header("cf-connecting-ip"),
      host: url.host,
      proto: url.protocol.replace(":", ""),
    },
    `https://${service}.internal`,
  );
  const res = await binding.fetch(req);
  return new Response(res.body, res);
});
