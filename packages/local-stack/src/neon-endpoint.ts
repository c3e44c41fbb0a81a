/**
 * A local server speaking Neon's two serverless protocols in front of a real PostgreSQL:
 *
 * - `POST /sql`: the HTTP query protocol of `neon()` (@neondatabase/serverless 1.2.0), selected with
 *   `neonConfig.fetchEndpoint = "http://127.0.0.1:P/sql"`. Headers `Neon-Connection-String`,
 *   `Neon-Raw-Text-Output`, `Neon-Array-Mode`, `Neon-Batch-Isolation-Level`, `Neon-Batch-Read-Only`,
 *   `Neon-Batch-Deferrable`; body `{query, params}` → `{fields, rows, command, rowCount, rowAsArray}`
 *   or `{queries:[...]}` → `{results:[...]}` (one transaction). Errors: HTTP 400 with the Postgres
 *   error fields (`message, code, detail, hint, position, ...`), which the client turns into NeonDbError.
 * - WebSocket relay `GET /v1?address=host:port` (also /v2 and /): binary frames ↔ a TCP socket to the
 *   address, for `Pool`/`Client` with `neonConfig.wsProxy = "127.0.0.1:P/v1"`.
 *
 * Only loopback database hosts are accepted (127.0.0.0/8, ::1, localhost).
 */
import http from "node:http";
import net from "node:net";
import pg from "pg";
import { WebSocketServer, type WebSocket } from "ws";
import { LOOPBACK } from "./ports.ts";
import type { LogFn } from "./process.ts";

export interface NeonEndpointOptions {
  /** 0 or missing → a free loopback port. */
  port?: number;
  host?: string;
  log?: LogFn;
  /** Max pg connections per connection string for /sql; default 10. */
  poolSize?: number;
}

export interface NeonEndpoint {
  readonly port: number;
  /** http://127.0.0.1:P/sql */
  readonly httpEndpoint: string;
  /** 127.0.0.1:P/v1 */
  readonly wsProxy: string;
  /** Open WebSocket relays (for tests). */
  readonly openRelays: number;
  /**
   * Drops the open WebSocket relays (to one database port, or all): clients see their WebSocket close.
   * Done before PostgreSQL is stopped so nothing it sends while shutting down (57P01) reaches a client
   * that is already ending its connection.
   */
  closeRelays(port?: number): void;
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Pure protocol helpers
// ---------------------------------------------------------------------------------------------

export interface NeonQuery {
  query: string;
  params: unknown[];
}

export type NeonRequest = { kind: "single"; query: NeonQuery } | { kind: "batch"; queries: NeonQuery[] };

export type IsolationLevel = "ReadUncommitted" | "ReadCommitted" | "RepeatableRead" | "Serializable";

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

export interface NeonField {
  name: string;
  tableID: number;
  columnID: number;
  dataTypeID: number;
  dataTypeSize: number;
  dataTypeModifier: number;
  format: string;
}

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

export function beginStatement(h: Pick<NeonHeaders, "isolationLevel" | "readOnly" | "deferrable">): string {
  let sql = "BEGIN";
  if (h.isolationLevel) sql += ` ISOLATION LEVEL ${ISOLATION_SQL[h.isolationLevel]}`;
  if (h.readOnly !== undefined) sql += h.readOnly ? " READ ONLY" : " READ WRITE";
  if (h.deferrable !== undefined) sql += h.deferrable ? " DEFERRABLE" : " NOT DEFERRABLE";
  return sql;
}

// ---------------------------------------------------------------------------------------------
// Server
// ---------------------------------------------------------------------------------------------

export async function startNeonEndpoint(opts: NeonEndpointOptions = {}): Promise<NeonEndpoint> {
  const host = opts.host ?? LOOPBACK;
  const log = opts.log ?? (() => {});
  const pools = new Map<string, pg.Pool>();
  const relays = new Set<{ ws: WebSocket; tcp: net.Socket; port: number }>();

  function poolFor(connectionString: string): pg.Pool {
    let pool = pools.get(connectionString);
    if (!pool) {
      pool = new pg.Pool({
        ...poolConfigFor(connectionString),
        max: opts.poolSize ?? 10,
        idleTimeoutMillis: 30_000,
        connectionTimeoutMillis: 5_000,
        allowExitOnIdle: true,
      });
      // Idle clients are terminated when PostgreSQL stops; the pool drops them, we just must not crash.
      pool.on("error", () => {});
      pools.set(connectionString, pool);
    }
    return pool;
  }

  function queryConfig(q: NeonQuery, h: NeonHeaders): pg.QueryArrayConfig {
    const cfg: pg.QueryArrayConfig & { queryMode?: string } = {
      text: q.query,
      values: q.params,
      rowMode: "array",
      // Extended protocol like Neon: one statement per query, parameters never interpolated.
      queryMode: "extended",
    };
    if (h.rawTextOutput) cfg.types = RAW_TEXT_TYPES;
    return cfg;
  }

  async function execute(h: NeonHeaders, req: NeonRequest): Promise<unknown> {
    const pool = poolFor(h.connectionString);
    if (req.kind === "single") {
      const r = await pool.query<unknown[]>(queryConfig(req.query, h));
      return formatResult(r, h.arrayMode);
    }
    const client = await pool.connect();
    let broken: Error | undefined;
    // A checked-out client has no pool error handler: without this, PostgreSQL stopping mid-transaction
    // would emit an unhandled 'error' and crash the process that hosts the endpoint.
    const onError = (e: Error) => (broken = e);
    client.on("error", onError);
    try {
      await client.query(beginStatement(h));
      const results: NeonResult[] = [];
      try {
        for (const q of req.queries) {
          results.push(formatResult(await client.query<unknown[]>(queryConfig(q, h)), h.arrayMode));
        }
        await client.query("COMMIT");
      } catch (e) {
        await client.query("ROLLBACK").catch((re: Error) => (broken = re));
        throw e;
      }
      return { results };
    } catch (e) {
      if (!(e instanceof pg.DatabaseError)) broken ??= e as Error;
      throw e;
    } finally {
      client.off("error", onError);
      client.release(broken);
    }
  }

  function send(res: http.ServerResponse, status: number, body: unknown): void {
    const json = JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(json) });
    res.end(json);
  }

  const server = http.createServer({ keepAliveTimeout: 65_000, requestTimeout: 0 }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = (req.url ?? "/").split("?")[0];
      if (req.method === "GET" && (path === "/" || path === "/health")) return send(res, 200, { ok: true });
      if (path !== "/sql") return send(res, 404, { message: `no route ${req.method} ${path}; use POST /sql or a WebSocket on /v1` });
      if (req.method !== "POST") return send(res, 405, { message: "use POST /sql" });
      (async () => {
        const h = parseNeonHeaders(req.headers);
        const body = parseNeonBody(Buffer.concat(chunks).toString("utf8"));
        send(res, 200, await execute(h, body));
      })().catch((e) => {
        const { status, body } = formatError(e);
        if (!res.headersSent) send(res, status, body);
      });
    });
  });

  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });

  server.on("upgrade", (req, socket, head) => {
    const reject = (status: number, message: string) => {
      socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${message}\n`);
    };
    let target: { host: string; port: number };
    try {
      const url = new URL(req.url ?? "/", "http://local");
      if (!["/v1", "/v2", "/"].includes(url.pathname)) return reject(404, `no WebSocket route ${url.pathname}; use /v1?address=host:port`);
      const address = url.searchParams.get("address");
      if (!address) return reject(400, "missing address=host:port");
      target = parseAddress(address);
      if (!isLoopbackHost(target.host)) return reject(403, `only loopback addresses may be relayed, not ${target.host}`);
    } catch (e) {
      return reject(400, (e as Error).message);
    }
    wss.handleUpgrade(req, socket, head, (ws) => relay(ws, target));
  });

  function relay(ws: WebSocket, target: { host: string; port: number }): void {
    const tcp = net.connect({ host: target.host.replace(/^\[|\]$/g, ""), port: target.port });
    tcp.setNoDelay(true);
    const entry = { ws, tcp, port: target.port };
    relays.add(entry);
    let closed = false;
    const finish = (code: number, reason: string) => {
      if (closed) return;
      closed = true;
      relays.delete(entry);
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(code, reason.slice(0, 120));
      tcp.end();
      setTimeout(() => {
        tcp.destroy();
        if (ws.readyState !== ws.CLOSED) ws.terminate();
      }, 2000).unref();
    };
    // Postgres → client, pausing the TCP side while the WebSocket send buffer is large.
    tcp.on("data", (chunk) => {
      ws.send(chunk, { binary: true }, () => {
        if (tcp.isPaused() && ws.bufferedAmount < 1 << 20) tcp.resume();
      });
      if (ws.bufferedAmount >= 4 << 20) tcp.pause();
    });
    // Client → Postgres (writes before the TCP connect completes are queued by the socket).
    ws.on("message", (data: Buffer | ArrayBuffer | Buffer[]) => {
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      if (!tcp.write(buf)) ws.pause();
    });
    tcp.on("drain", () => ws.resume());
    tcp.on("end", () => finish(1000, "database closed the connection"));
    tcp.on("close", () => finish(1000, "database connection closed"));
    tcp.on("error", (e) => finish(1011, `database connection failed: ${e.message}`));
    ws.on("close", () => finish(1000, ""));
    ws.on("error", () => finish(1011, "websocket error"));
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", (e) => reject(new Error(`Neon endpoint cannot listen on ${host}:${opts.port ?? 0}: ${e.message}`, { cause: e })));
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  const httpEndpoint = `http://${host}:${port}/sql`;
  const wsProxy = `${host}:${port}/v1`;
  log(`Neon endpoint on http://${host}:${port} (HTTP ${httpEndpoint}, WebSocket relay ${wsProxy})`);

  let closing: Promise<void> | undefined;
  return {
    port,
    httpEndpoint,
    wsProxy,
    get openRelays() {
      return relays.size;
    },
    closeRelays: (dbPort?: number) => {
      for (const r of [...relays]) {
        if (dbPort !== undefined && r.port !== dbPort) continue;
        relays.delete(r);
        r.tcp.destroy();
        if (r.ws.readyState === r.ws.OPEN) r.ws.close(1001, "database is stopping");
        setTimeout(() => r.ws.terminate(), 1000).unref();
      }
    },
    close: () =>
      (closing ??= (async () => {
        for (const r of relays) {
          r.ws.terminate();
          r.tcp.destroy();
        }
        relays.clear();
        for (const c of wss.clients) c.terminate();
        wss.close();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        await Promise.allSettled([...pools.values()].map((p) => p.end()));
        pools.clear();
      })()),
  };
}
