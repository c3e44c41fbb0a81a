import { logLevels } from "@foundation/db";

/** Severity of a collected line, lowest first. */
export type Level = (typeof logLevels)[number];

/** Every severity, lowest first. */
export const LEVELS: readonly Level[] = logLevels;

/** One collected log line, as stored and searched. */
export interface LogEntry {
  /** When the line was written (ms since the epoch). */
  ts: number;
  service: string;
  level: Level;
  msg: string;
  /** The line's correlation ID, or the several of a line about many requests (a delivery round); at most {@link LIMITS}.correlationIds. */
  correlationIds: string[];
  traceId: string | null;
  /** The line's other fields, bounded (see {@link boundEntry}). */
  fields: Record<string, unknown>;
}

/** What one line may hold: anything larger is cut, and the line says so with `truncated: true`. */
export const LIMITS = {
  /** Characters of `msg`. */
  msgChars: 512,
  /** Characters of a service name. */
  serviceChars: 64,
  /** Characters of one correlation ID (the kit's own limit). */
  correlationIdChars: 128,
  /** Correlation IDs of one line. */
  correlationIds: 20,
  /** Fields of one line besides msg, level, service, ts and the IDs. */
  fields: 32,
  /** Characters of a field name. */
  fieldNameChars: 64,
  /** Characters of one field's JSON; a larger value is replaced by its first characters as a string. */
  fieldChars: 2048,
  /** Characters of all fields' JSON together. */
  lineChars: 8192,
  /** Lines taken from one invocation; the rest are counted as dropped. */
  linesPerInvocation: 200,
} as const;

const TRACE_ID = /^[0-9a-f]{32}$/;

const cut = (s: string, n: number) => (s.length > n ? `${s.slice(0, n)}…` : s);

/** Whether `value` is a valid severity. */
export function isLevel(value: unknown): value is Level {
  return typeof value === "string" && (LEVELS as readonly string[]).includes(value);
}

/** Severity at or above `min`. */
export function levelsFrom(min: Level): Level[] {
  return LEVELS.slice(LEVELS.indexOf(min));
}

/**
 * An entry within {@link LIMITS}: message and names cut, at most 32 fields, each field's JSON at most 2 KiB (a larger
 * value becomes its first characters as a string) and all of them at most 8 KiB (later fields are left out), a
 * trace ID only when it is one. Anything cut sets `fields.truncated`.
 * @example boundEntry({ ts: Date.now(), service: "gateway", level: "info", msg: "x".repeat(9000), correlationIds: [], traceId: null, fields: {} }).msg.length // 513
 */
export function boundEntry(entry: LogEntry): LogEntry {
  let truncated = entry.msg.length > LIMITS.msgChars;
  const fields: Record<string, unknown> = {};
  let total = 2;
  let count = 0;
  for (const [name, value] of Object.entries(entry.fields)) {
    if (value === undefined) continue;
    if (count === LIMITS.fields || name.length > LIMITS.fieldNameChars) {
      truncated = true;
      continue;
    }
    let json = JSON.stringify(value) ?? "null";
    let kept: unknown = value;
    if (json.length > LIMITS.fieldChars) {
      kept = cut(typeof value === "string" ? value : json, LIMITS.fieldChars - 8);
      json = JSON.stringify(kept);
      truncated = true;
    }
    if (total + name.length + json.length + 4 > LIMITS.lineChars) {
      truncated = true;
      continue;
    }
    total += name.length + json.length + 4;
    fields[name] = kept;
    count++;
  }
  if (truncated) fields.truncated = true;
  const ids = entry.correlationIds.filter((id) => id.length > 0 && id.length <= LIMITS.correlationIdChars);
  return {
    ts: entry.ts,
    service: cut(entry.service, LIMITS.serviceChars) || "unknown",
    level: entry.level,
    msg: cut(entry.msg, LIMITS.msgChars),
    correlationIds: [...new Set(ids)].slice(0, LIMITS.correlationIds),
    traceId: entry.traceId !== null && TRACE_ID.test(entry.traceId) ? entry.traceId : null,
    fields,
  };
}
