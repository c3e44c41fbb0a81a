import { workerMetrics } from "@foundation/core";

/** The collector's metrics, in the worker's registry (`workerMetrics`), which it pushes to the aggregator. */
export const logMetrics = {
  ingested: workerMetrics.counter("foundation_logs_ingested_total", "Log lines written to Postgres, by level"),
  dropped: workerMetrics.counter(
    "foundation_logs_dropped_total",
    "Log lines not stored, by reason: invocation-limit (past 200 lines of one invocation), buffer-full, write-failed, no-database",
  ),
  lokiFailures: workerMetrics.counter("foundation_logs_loki_failures_total", "Batches Loki did not accept"),
  pruned: workerMetrics.counter("foundation_logs_pruned_total", "Log lines deleted past their retention"),
};
