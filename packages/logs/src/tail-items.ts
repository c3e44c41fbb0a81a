import { boundEntry, isLevel, LIMITS, type Level, type LogEntry } from "./entry.ts";

/** The part of a Tail Worker's `TraceItem` read here (Cloudflare's type, kept structural so pure tests need no runtime). */
export interface TailItem {
  scriptName: string | null;
  entrypoint?: string | null;
  eventTimestamp: number | null;
  outcome: string;
  truncated?: boolean;
  executionModel?: string;
  event: unknown;
  logs: ReadonlyArray<{ timestamp: number; level: string; message: unknown }>;
  exceptions: ReadonlyArray<{ timestamp: number; name: string; message: unknown; stack?: string }>;
}

/** Entries made from tail items, and how many lines were left out. */
export interface CollectedEntries {
  entries: LogEntry[];
  /** Lines past {@link LIMITS}.linesPerInvocation of their invocation. */
  dropped: number;
}

/** Fields of a kit line that become columns rather than fields. */
const COLUMNS = new Set(["ts", "level", "msg", "service", "correlationId", "correlationIds", "traceId"]);

/** `console.*` levels as Workers report them, as line severities. */
const CONSOLE_LEVELS: Record<string, Level> = { debug: "debug", log: "info", info: "info", warn: "warn", error: "error" };

/** The worker name without Foundation's prefix and environment suffix: `foundation-example-staging` → `example`. */
export function serviceOfScript(scriptName: string | null | undefined): string | undefined {
  if (!scriptName) return undefined;
  return scriptName.replace(/^foundation-/, "").replace(/-(staging|production)$/, "") || undefined;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const str = (v: unknown) => (typeof v === "string" ? v : undefined);

/** The `[worker-name]` label `wrangler dev` puts before each console line when it runs several workers. */
const WORKER_LABEL = /^\[[\w.-]{1,128}\]$/;

/**
 * A line's console arguments without the `[worker-name]` label `wrangler dev` adds (as its own argument, or at the
 * start of the only one), so a line reads the same under `npm run dev` as in production.
 */
export function unlabelled(message: unknown): unknown[] {
  const parts: unknown[] = Array.isArray(message) ? message : [message];
  const first = parts[0];
  if (parts.length === 2 && typeof first === "string" && WORKER_LABEL.test(first)) return parts.slice(1);
  if (parts.length === 1 && typeof first === "string") {
    const space = first.indexOf(" ");
    if (space > 0 && WORKER_LABEL.test(first.slice(0, space))) return [first.slice(space + 1)];
  }
  return parts;
}

/** A JSON object written as a line by the kit's logger (one string argument), else undefined. */
function structured(message: unknown): Record<string, unknown> | undefined {
  const parts = unlabelled(message);
  const only: unknown = parts.length === 1 ? parts[0] : undefined;
  if (typeof only !== "string" || !only.startsWith("{")) return isRecord(only) ? only : undefined;
  try {
    const parsed: unknown = JSON.parse(only);
    return isRecord(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

/** The text of a plain `console.log(...)` call. */
function plainText(message: unknown): string {
  const parts = unlabelled(message);
  return parts.map((p) => (typeof p === "string" ? p : (JSON.stringify(p) ?? String(p)))).join(" ");
}

function timeOf(line: Record<string, unknown>, fallback: number): number {
  const ts = str(line.ts);
  const ms = ts === undefined ? NaN : Date.parse(ts);
  return Number.isFinite(ms) ? ms : fallback;
}

function correlationIdsOf(line: Record<string, unknown>): string[] {
  const one = str(line.correlationId);
  const many = Array.isArray(line.correlationIds) ? line.correlationIds.filter((v): v is string => typeof v === "string") : [];
  return one === undefined ? many : [one, ...many];
}

/** What invoked the worker, for the invocation's own line: a request, a cron, an alarm, an RPC call or a queue batch. */
function describeEvent(event: unknown): { kind: string; fields: Record<string, unknown>; correlationId?: string; traceId?: string } {
  if (!isRecord(event)) return { kind: "unknown", fields: {} };
  const request = isRecord(event.request) ? event.request : undefined;
  if (request) {
    const headers = isRecord(request.headers) ? request.headers : {};
    const url = str(request.url);
    let path: string | undefined;
    try {
      path = url === undefined ? undefined : new URL(url).pathname;
    } catch {
      path = undefined;
    }
    const status = isRecord(event.response) ? event.response.status : undefined;
    const traceparent = str(headers.traceparent)?.split("-")[1];
    return {
      kind: "fetch",
      fields: { method: str(request.method), path, status },
      correlationId: str(headers["x-correlation-id"]),
      traceId: traceparent,
    };
  }
  if (typeof event.cron === "string") return { kind: "scheduled", fields: { cron: event.cron } };
  if ("scheduledTime" in event) return { kind: "alarm", fields: {} };
  if (typeof event.rpcMethod === "string") return { kind: "rpc", fields: { rpcMethod: event.rpcMethod } };
  if (typeof event.queue === "string") return { kind: "queue", fields: { queue: event.queue, batchSize: event.batchSize } };
  return { kind: "other", fields: {} };
}

/**
 * The log entries of one invocation of a worker, as its Tail Worker receives it: each structured line of the kit's
 * logger (its `service`, `correlationId`, `traceId` and fields), each plain `console` line, each uncaught exception,
 * and a line for the invocation itself when it did not end `ok`, was a cron run, or was a request no kit line
 * reported. Alarms and RPC calls that end `ok` add no line of their own: the stream consumers' alarms run all the
 * time. A line's service is its own `service` field, else the worker's name, else its `component`.
 * @example entriesOfItem(traceItem).map((e) => e.msg) // ["request"]
 */
export function entriesOfItem(item: TailItem): CollectedEntries {
  const at = item.eventTimestamp ?? item.logs[0]?.timestamp ?? Date.now();
  const script = serviceOfScript(item.scriptName);
  const event = describeEvent(item.event);
  const raw: LogEntry[] = [];
  let kitService: string | undefined;
  let kitCorrelation: string | undefined;
  let reportedRequest = false;

  for (const log of item.logs) {
    const line = structured(log.message);
    if (!line || typeof line.msg !== "string") {
      raw.push({
        ts: log.timestamp,
        service: script ?? "unknown",
        level: CONSOLE_LEVELS[log.level] ?? "info",
        msg: plainText(log.message),
        correlationIds: [],
        traceId: null,
        fields: {},
      });
      continue;
    }
    const service = str(line.service) ?? script ?? str(line.component) ?? "unknown";
    const ids = correlationIdsOf(line);
    kitService ??= str(line.service);
    kitCorrelation ??= str(line.correlationId);
    if (line.msg === "request") reportedRequest = true;
    const fields: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(line)) if (!COLUMNS.has(k)) fields[k] = v;
    raw.push({
      ts: timeOf(line, log.timestamp),
      service,
      level: isLevel(line.level) ? line.level : (CONSOLE_LEVELS[log.level] ?? "info"),
      msg: line.msg,
      correlationIds: ids,
      traceId: str(line.traceId) ?? null,
      fields,
    });
  }

  const service = script ?? kitService ?? "unknown";
  const correlationIds = [event.correlationId ?? kitCorrelation].filter((v): v is string => v !== undefined);
  for (const ex of item.exceptions) {
    raw.push({
      ts: ex.timestamp,
      service,
      level: "error",
      msg: "uncaught exception",
      correlationIds,
      traceId: event.traceId ?? null,
      fields: { errorName: ex.name, error: plainText(ex.message), stack: ex.stack?.split("\n").slice(0, 8).join("\n") },
    });
  }

  const failed = item.outcome !== "ok";
  const unreported = event.kind === "fetch" && !reportedRequest;
  if (failed || unreported || event.kind === "scheduled") {
    const status = event.fields.status;
    const level: Level = failed || (typeof status === "number" && status >= 500) ? "error" : "info";
    raw.push({
      ts: at,
      service,
      level,
      msg: event.kind === "fetch" ? "request" : "invocation",
      correlationIds,
      traceId: event.traceId ?? null,
      fields: {
        ...event.fields,
        event: event.kind,
        outcome: item.outcome,
        ...(item.entrypoint ? { entrypoint: item.entrypoint } : {}),
        ...(item.truncated ? { logsTruncated: true } : {}),
      },
    });
  }

  const kept = raw.slice(0, LIMITS.linesPerInvocation);
  return { entries: kept.map(boundEntry), dropped: raw.length - kept.length };
}

/** {@link entriesOfItem} of every item of one `tail()` call. */
export function entriesOfItems(items: readonly TailItem[]): CollectedEntries {
  const entries: LogEntry[] = [];
  let dropped = 0;
  for (const item of items) {
    const one = entriesOfItem(item);
    entries.push(...one.entries);
    dropped += one.dropped;
  }
  return { entries, dropped };
}
