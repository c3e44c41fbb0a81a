import { createLogger } from "@foundation/service-kit";
import { app } from "./app.ts";
import { runUptimeChecks } from "./uptime/checks.ts";

export { RateLimiter } from "@foundation/rate-limiter";
export { MetricsAggregator } from "@foundation/monitoring";
export { ServiceDirectory, ServiceRegistry } from "@foundation/registry";
export { StatusDashboard } from "./dashboard/status-dashboard.ts";
export { LiveStream, StreamConsumer } from "@foundation/event-bus";
export { JobQueue } from "@foundation/jobs";

const uptimeLog = createLogger({ service: "gateway", component: "uptime" });

/**
 * The gateway's handlers: the app's `fetch`, and a cron that runs the kit's own scheduled work
 * (self-registration) beside the uptime checks of every registered instance; one failing never stops the other.
 */
export default {
  fetch: app.fetch,
  async scheduled(controller, env, ctx) {
    const [kit, uptime] = await Promise.allSettled([app.scheduled(controller, env, ctx), runUptimeChecks(env, { log: uptimeLog })]);
    if (kit.status === "rejected") throw kit.reason;
    if (uptime.status === "rejected") throw uptime.reason;
  },
} satisfies ExportedHandler<Env>;
