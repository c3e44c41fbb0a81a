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

/** Fields every line has, ahead of the bound and call fields. */
const LINE_KEYS = new Set(["ts", "level", "msg"]);

/** The members of a JSON object, without its braces: `"a":1,"b":"x"` (empty for an object with none). */
const members = (fields: LogFields): string => JSON.stringify(fields).slice(1, -1);

/**
 * A JSON-lines logger whose bound fields are serialized once, when it is made (as pino does with a child's bindings),
 * not again on every line: a request's logger is a child made per request, and most lines add a few fields to it.
 * A call field that repeats a bound field (or `ts`, `level`, `msg`) replaces it, as in `{ ...bound, ...fields }`.
 */
class JsonLogger implements Logger {
  constructor(
    /** The bound field objects, outermost first: looked up only to tell whether a call field repeats one. */
    private readonly layers: readonly LogFields[],
    /** The bound fields as JSON members, each preceded by a comma. */
    private readonly bound: string,
    private readonly sink: LogSink,
    private readonly now: () => number,
    /** A bound field is named `ts`, `level` or `msg`: every line is then built as one object, so that it wins. */
    private readonly namesLineKey = false,
  ) {}

  debug(msg: string, fields?: LogFields): void {
    this.write("debug", msg, fields);
  }

  info(msg: string, fields?: LogFields): void {
    this.write("info", msg, fields);
  }

  warn(msg: string, fields?: LogFields): void {
    this.write("warn", msg, fields);
  }

  error(msg: string, fields?: LogFields): void {
    this.write("error", msg, fields);
  }

  child(fields: LogFields): Logger {
    if (this.repeats(fields)) {
      const merged = { ...this.boundFields(), ...fields };
      return new JsonLogger([merged], boundMembers(merged), this.sink, this.now, namesLineKey(merged));
    }
    return new JsonLogger([...this.layers, fields], this.bound + boundMembers(fields), this.sink, this.now, this.namesLineKey);
  }

  private write(level: LogLevel, msg: string, fields: LogFields | undefined): void {
    const ts = isoTime(this.now());
    if (this.namesLineKey || (fields !== undefined && this.repeats(fields))) {
      this.sink(JSON.stringify({ ts, level, msg, ...this.boundFields(), ...fields }), level);
      return;
    }
    const own = fields === undefined ? "" : members(fields);
    this.sink(`{"ts":"${ts}","level":"${level}","msg":${JSON.stringify(msg)}${this.bound}${own === "" ? "" : `,${own}`}}`, level);
  }

  private boundFields(): LogFields {
    return Object.assign({}, ...this.layers) as LogFields;
  }

  /** Whether `fields` names a line key or a bound field. */
  private repeats(fields: LogFields): boolean {
    for (const key in fields) {
      if (LINE_KEYS.has(key)) return true;
      for (const layer of this.layers) if (Object.hasOwn(layer, key)) return true;
    }
    return false;
  }
}

const namesLineKey = (fields: LogFields): boolean => Object.keys(fields).some((k) => LINE_KEYS.has(k));

/** Bound fields as JSON members, each preceded by a comma. */
function boundMembers(fields: LogFields): string {
  const m = members(fields);
  return m === "" ? "" : `,${m}`;
}

/**
 * Creates a JSON-lines logger: one object per line, `ts`, `level` and `msg` first, then `base`, a child's fields and
 * the call's.
 * @example createLogger({ service: "gateway" }).info("request", { status: 200 });
 */
export function createLogger(base: LogFields, sink: LogSink = consoleSink, now: () => number = Date.now): Logger {
  return new JsonLogger([base], boundMembers(base), sink, now, namesLineKey(base));
}
