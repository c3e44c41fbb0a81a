/**
 * `@foundation/logs`: every worker's log lines, collected by the `log-tail` Tail Worker, bounded, batched into
 * Postgres (and Loki), searched by `GET /api/foundation/logs`, and assembled into one request's trace.
 */
export { DEFAULT_BUFFER_POLICY, LogBuffer, type BufferPolicy } from "./buffer.ts";
export { DEFAULT_RETENTION_DAYS, LogCollector, PRUNE_INTERVAL_MS, retentionDays, type CollectorEnv, type WaitUntil } from "./collector.ts";
export { boundEntry, isLevel, LEVELS, levelsFrom, LIMITS, type Level, type LogEntry } from "./entry.ts";
export { lokiPayload, pushToLoki, type LokiPush, type LokiTarget } from "./loki.ts";
export { logMetrics } from "./metrics.ts";
export { decodeCursor, DEFAULT_PAGE, encodeCursor, LogQuery, MAX_PAGE, type Cursor } from "./query.ts";
export { insertLogs, MAX_TRACE_LINES, pruneLogs, PRUNE_BATCH, searchLogs, traceLines, type LogPage, type StoredEntry } from "./store.ts";
export { entriesOfItem, entriesOfItems, serviceOfScript, type CollectedEntries, type TailItem } from "./tail-items.ts";
export { assembleTrace, type StepKind, type Trace, type TraceStep } from "./trace.ts";
