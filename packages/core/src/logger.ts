import { isoTime } from "./iso-time.ts";

/** Severity of a log line. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Fields of a structured log line; `msg` says what happened, the rest are searchable attributes. */
export type LogFields = Record<string, unknown>;

/** A structured logger bound to a service and, per request, to a correlation ID. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger whose lines also carry `fields`. */
  child(fields: LogFields): Logger;
}

/** Where log lines go; Workers Logs and Logpush parse one JSON object per console line. */
export type LogSink = (line: string, level: LogLevel) => void;

const consoleSink: LogSink = (line, level) => {
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
};

/** Longest error message kept in a log line: client errors can quote whole payloads. */
const MAX_ERROR_CHARS = 300;

/** Serialises an error for a log line (never for a response), its message cut to a bounded length. */
export function errorFields(err: unknown): LogFields {
  const cut = (m: string) => (m.length > MAX_ERROR_CHARS ? `${m.slice(0, MAX_ERROR_CHARS)}…` : m);
  if (err instanceof Error) return { error: cut(err.message), errorName: err.name, stack: err.stack?.split("\n").slice(0, 8).join("\n") };
  return { error: cut(String(err)) };
}

/**
 * Creates a JSON-lines logger.
 * @example createLogger({ service: "gateway" }).info("request", { status: 200 });
 */
export function createLogger(base: LogFields, sink: LogSink = consoleSink, now: () => number = Date.now): Logger {
  const write = (level: LogLevel, msg: string, fields?: LogFields) => {
    sink(JSON.stringify({ ts: isoTime(now()), level, msg, ...base, ...fields }), level);
  };
  return {
    debug: (msg, fields) => write("debug", msg, fields),
    info: (msg, fields) => write("info", msg, fields),
    warn: (msg, fields) => write("warn", msg, fields),
    error: (msg, fields) => write("error", msg, fields),
    child: (fields) => createLogger({ ...base, ...fields }, sink, now),
  };
}
