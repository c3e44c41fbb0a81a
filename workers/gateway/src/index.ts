import { app } from "./app.ts";

export { RateLimiter } from "@foundation/rate-limiter";
export { MetricsAggregator } from "@foundation/service-kit/metrics-aggregator";
export { ServiceDirectory, ServiceRegistry } from "@foundation/registry";
export { StreamConsumer } from "./consumers/stream-consumer.ts";

export default app satisfies ExportedHandler<Env>;
