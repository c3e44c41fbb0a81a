export { IDLE_SERIES_TTL_MS, MAX_SERIES_PER_SERVICE, MetricsAggregator } from "./metrics-aggregator.ts";
