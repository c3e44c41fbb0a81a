/**
 * The pure half of the local Neon endpoint (`neon-endpoint.ts`): reading `neon()`'s HTTP requests
 * (@neondatabase/serverless 1.2.0), shaping pg results and errors as its replies, and the loopback checks
 * both routes apply to the database address they are given.
 */
import type http from "node:http";
import net from "node:net";
import pg from "pg";

/** One statement and its parameters, as `neon()` sends it. */
export interface NeonQuery {
  query: string;
  params: unknown[];
}

/** A request body: one query, or a batch that runs in one transaction (`sql.transaction()`). */
export type NeonRequest = { kind: "single"; query: NeonQuery } | { kind: "batch"; queries: NeonQuery[] };

/** The values `Neon-Batch-Isolation-Level` may take. */
export type IsolationLevel = "ReadUncommitted" | "ReadCommitted" | "RepeatableRead" | "Serializable";

/** The Neon-* request headers, parsed. */
export interface NeonHeaders {
  connectionString: string;
  rawTextOutput: boolean;
  arrayMode: boolean;
  isolationLevel?: IsolationLevel;
  readOnly?: boolean;
  deferrable?: boolean;
}

/** An HTTP-level failure answered as `{message, code?}` with the given status. */
export class NeonHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

const ISOLATION_SQL: Record<IsolationLevel, string> = {
  ReadUncommitted: "READ UNCOMMITTED",
  ReadCommitted: "READ COMMITTED",
  RepeatableRead: "REPEATABLE READ",
  Serializable: "SERIALIZABLE",
};

function headerValue(h: http.IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

function parseBool(v: string | undefined, name: string): boolean | undefined {
  if (v === undefined) return undefined;
  if (v === "true") return true;
  if (v === "false") return false;
  throw new NeonHttpError(400, `invalid ${name} header: ${JSON.stringify(v)} (expected true or false)`);
}

/** Reads the Neon-* request headers. */
export function parseNeonHeaders(h: http.IncomingHttpHeaders): NeonHeaders {
  const connectionString = headerValue(h, "Neon-Connection-String");
  if (!connectionString) throw new NeonHttpError(400, "missing Neon-Connection-String header");
  const iso = headerValue(h, "Neon-Batch-Isolation-Level");
  if (iso !== undefined && !(iso in ISOLATION_SQL)) {
    throw new NeonHttpError(400, `invalid Neon-Batch-Isolation-Level: ${JSON.stringify(iso)}`);
  }
  const out: NeonHeaders = {
    connectionString,
    rawTextOutput: parseBool(headerValue(h, "Neon-Raw-Text-Output"), "Neon-Raw-Text-Output") ?? false,
    arrayMode: parseBool(headerValue(h, "Neon-Array-Mode"), "Neon-Array-Mode") ?? false,
  };
  if (iso !== undefined) out.isolationLevel = iso as IsolationLevel;
  const ro = parseBool(headerValue(h, "Neon-Batch-Read-Only"), "Neon-Batch-Read-Only");
  if (ro !== undefined) out.readOnly = ro;
  const def = parseBool(headerValue(h, "Neon-Batch-Deferrable"), "Neon-Batch-Deferrable");
  if (def !== undefined) out.deferrable = def;
  return out;
}

function parseQuery(q: unknown, where: string): NeonQuery {
  if (typeof q !== "object" || q === null || typeof (q as { query?: unknown }).query !== "string") {
    throw new NeonHttpError(400, `${where}: expected an object with a string "query"`);
  }
  const params = (q as { params?: unknown }).params ?? [];
  if (!Array.isArray(params)) throw new NeonHttpError(400, `${where}: "params" must be an array`);
  return { query: (q as { query: string }).query, params };
}

/** Parses the JSON body: `{query, params}` or `{queries:[{query, params}, ...]}`. */
export function parseNeonBody(raw: string): NeonRequest {
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    throw new NeonHttpError(400, "request body is not valid JSON");
  }
  if (typeof body === "object" && body !== null && Array.isArray((body as { queries?: unknown }).queries)) {
    const queries = (body as { queries: unknown[] }).queries.map((q, i) => parseQuery(q, `queries[${i}]`));
    return { kind: "batch", queries };
  }
  return { kind: "single", query: parseQuery(body, "body") };
}

/** 127.0.0.0/8, ::1 (with or without brackets), ::ffff:127.x, localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  if (h === "localhost" || h === "::1" || h === "0:0:0:0:0:0:0:1") return true;
  const v4 = h.startsWith("::ffff:") ? h.slice(7) : h;
  return net.isIPv4(v4) && v4.startsWith("127.");
}

/** Splits "host:port" / "[::1]:port" of a relay `address` parameter. */
export function parseAddress(address: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:]+):(\d+)$/.exec(address);
  if (!m) throw new NeonHttpError(400, `invalid address ${JSON.stringify(address)} (expected host:port)`);
  const port = Number(m[2]);
  if (!(port > 0 && port < 65536)) throw new NeonHttpError(400, `invalid port in address ${address}`);
  return { host: m[1]!, port };
}

/** pg connection settings for a Neon-Connection-String; rejects non-loopback hosts. */
export function poolConfigFor(connectionString: string): pg.PoolConfig {
  let url: URL;
  try {
    url = new URL(connectionString);
  } catch {
    throw new NeonHttpError(400, "Neon-Connection-String is not a valid URL");
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") {
    throw new NeonHttpError(400, `Neon-Connection-String must use postgres:// or postgresql:// (got ${url.protocol})`);
  }
  const host = url.hostname || "localhost";
  if (!isLoopbackHost(host)) {
    throw new NeonHttpError(400, `this local Neon endpoint only connects to loopback hosts, not ${JSON.stringify(host)}`);
  }
  const cfg: pg.PoolConfig = {
    host: host.replace(/^\[|\]$/g, ""),
    port: url.port ? Number(url.port) : 5432,
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    database: decodeURIComponent(url.pathname.replace(/^\//, "")) || decodeURIComponent(url.username),
    ssl: false,
    application_name: url.searchParams.get("application_name") ?? "local-neon-http",
  };
  const options = url.searchParams.get("options");
  if (options) cfg.options = options;
  return cfg;
}

/** pg query type overrides that hand back Postgres' text output unparsed (Neon-Raw-Text-Output). */
export const RAW_TEXT_TYPES = { getTypeParser: () => (v: string) => v } as unknown as pg.CustomTypesConfig;

/** One column's description in a reply, as pg reports it. */
export interface NeonField {
  name: string;
  tableID: number;
  columnID: number;
  dataTypeID: number;
  dataTypeSize: number;
  dataTypeModifier: number;
  format: string;
}

/** The JSON reply to one query. */
export interface NeonResult {
  fields: NeonField[];
  rows: unknown[];
  command: string;
  rowCount: number | null;
  rowAsArray: boolean;
}

function jsonSafe(v: unknown): unknown {
  if (v instanceof Date) return v.toISOString();
  if (Buffer.isBuffer(v)) return "\\x" + v.toString("hex");
  return v;
}

/** Shapes a pg result (rowMode array) as Neon's JSON reply. */
export function formatResult(r: pg.QueryResult<unknown[]>, arrayMode: boolean): NeonResult {
  const fields: NeonField[] = r.fields.map((f) => ({
    name: f.name,
    tableID: f.tableID,
    columnID: f.columnID,
    dataTypeID: f.dataTypeID,
    dataTypeSize: f.dataTypeSize,
    dataTypeModifier: f.dataTypeModifier,
    format: f.format,
  }));
  let rows: unknown[];
  if (arrayMode) {
    rows = r.rows.map((row) => row.map(jsonSafe));
  } else {
    rows = r.rows.map((row) => {
      const o: Record<string, unknown> = {};
      for (let i = 0; i < fields.length; i++) o[fields[i]!.name] = jsonSafe(row[i]);
      return o;
    });
  }
  return { fields, rows, command: r.command, rowCount: r.rowCount, rowAsArray: arrayMode };
}

const PG_ERROR_FIELDS = [
  "severity",
  "code",
  "detail",
  "hint",
  "position",
  "internalPosition",
  "internalQuery",
  "where",
  "schema",
  "table",
  "column",
  "dataType",
  "constraint",
  "file",
  "line",
  "routine",
] as const;

/** HTTP status and JSON body for a failure: Postgres errors keep all their fields. */
export function formatError(e: unknown): { status: number; body: Record<string, unknown> } {
  if (e instanceof NeonHttpError) {
    return { status: e.status, body: { message: e.message, ...(e.code ? { code: e.code } : {}) } };
  }
  const err = e as Error & Record<string, unknown>;
  if (err instanceof pg.DatabaseError || (typeof err?.code === "string" && /^[0-9A-Z]{5}$/.test(err.code))) {
    const body: Record<string, unknown> = { message: err.message };
    for (const k of PG_ERROR_FIELDS) if (err[k] !== undefined) body[k] = err[k];
    return { status: 400, body };
  }
  // Not a Postgres error: the server is unreachable, starting up, or the connection broke.
  const msg = err instanceof Error ? err.message : String(e);
  return {
    status: 400,
    body: { message: `Error connecting to database: ${msg || (err as { code?: string }).code || "connection failed"}`, code: "08001" },
  };
}

/** The BEGIN that opens a batch's transaction with the Neon-Batch-* options. */
export function beginStatement(h: Pick<NeonHeaders, "isolationLevel" | "readOnly" | "deferrable">): string {
  let sql = "BEGIN";
  if (h.isolationLevel) sql += ` ISOLATION LEVEL ${ISOLATION_SQL[h.isolationLevel]}`;
  if (h.readOnly !== undefined) sql += h.readOnly ? " READ ONLY" : " READ WRITE";
  if (h.deferrable !== undefined) sql += h.deferrable ? " DEFERRABLE" : " NOT DEFERRABLE";
  return sql;
}
