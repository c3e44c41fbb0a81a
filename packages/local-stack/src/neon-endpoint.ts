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
 * Only loopback database hosts are accepted (127.0.0.0/8, ::1, localhost). This file is the server and the
 * `/sql` executor over pg pools; the request parsing and reply shaping are in `neon-protocol.ts`, the
 * WebSocket relay in `neon-relay.ts`.
 */
import http from "node:http";
import type net from "node:net";
import pg from "pg";
import {
  beginStatement,
  formatError,
  formatResult,
  parseNeonBody,
  parseNeonHeaders,
  poolConfigFor,
  RAW_TEXT_TYPES,
} from "./neon-protocol.ts";
import type { NeonHeaders, NeonQuery, NeonRequest, NeonResult } from "./neon-protocol.ts";
import { createNeonRelay } from "./neon-relay.ts";
import { LOOPBACK } from "./ports.ts";
import type { LogFn } from "./process.ts";

/** Where the endpoint listens and how many pg connections it may open. */
export interface NeonEndpointOptions {
  /** 0 or missing → a free loopback port. */
  port?: number;
  host?: string;
  log?: LogFn;
  /** Max pg connections per connection string for /sql; default 10. */
  poolSize?: number;
}

/** A running endpoint: its addresses, its relays, and `close()`. */
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

/** Starts the endpoint (`POST /sql` and the WebSocket relay) on a loopback port. */
export async function startNeonEndpoint(opts: NeonEndpointOptions = {}): Promise<NeonEndpoint> {
  const host = opts.host ?? LOOPBACK;
  const log = opts.log ?? (() => {});
  const pools = new Map<string, pg.Pool>();
  const relay = createNeonRelay();

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

  server.on("upgrade", (req, socket, head) => relay.handleUpgrade(req, socket, head));

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
      return relay.open;
    },
    closeRelays: (dbPort?: number) => relay.closeRelays(dbPort),
    close: () =>
      (closing ??= (async () => {
        relay.close();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        await Promise.allSettled([...pools.values()].map((p) => p.end()));
        pools.clear();
      })()),
  };
}
