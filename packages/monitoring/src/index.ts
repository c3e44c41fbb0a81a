export { MetricsAggregator } from "./metrics-aggregator.ts";
