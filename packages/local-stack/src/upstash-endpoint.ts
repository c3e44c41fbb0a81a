/**
 * A local HTTP endpoint that speaks Upstash's Redis REST protocol in front of a real redis-server,
 * so `@upstash/redis` (in workerd or Node) works unchanged against `http://127.0.0.1:P`.
 *
 * Protocol as @upstash/redis 1.39 uses it:
 * - `Authorization: Bearer <token>` (or `?_token=`), otherwise 401 `{error}`.
 * - `POST /` with one command array → 200 `{result}`; a Redis error → 400 `{error}`.
 * - `POST /pipeline` with an array of command arrays → 200 `[{result}|{error}, ...]` in order.
 * - `POST /multi-exec` → same shape, executed atomically (MULTI/EXEC); a command rejected while
 *   queueing aborts the whole transaction → 400 `{error:"EXECABORT ..."}`.
 * - Path style `GET|POST /<cmd>/<arg>/...` (a POST body is appended as the last argument).
 * - `Upstash-Encoding: base64` → every string in the reply (status replies and nested ones too) is
 *   base64 of its bytes; integers stay JSON numbers, nil is null, arrays are RESP2 arrays.
 * - redis-server unreachable → 503 `{error}` at once (no queueing), served again after it restarts.
 *
 * This file is the server; parsing requests and encoding replies are in `upstash-protocol.ts`.
 */
import http from "node:http";
import { LOOPBACK } from "./ports.ts";
import { RespClient, RespConnectionError, RespError, type RespValue } from "./resp.ts";
import type { LogFn } from "./process.ts";
import {
  encodeReply,
  parseCommands,
  parsePathCommand,
  rejectCommand,
  requestToken,
  toRedisArgs,
  UpstashHttpError,
} from "./upstash-protocol.ts";
import type { RedisArg, UpstashReply } from "./upstash-protocol.ts";

/** What the endpoint counted since it started or since `resetStats()`. */
export interface UpstashStats {
  /** Commands by upper-case name. */
  upstashCommands: Record<string, number>;
  /** HTTP requests served (any route, any status). */
  upstashRequests: number;
}

/** The redis-server behind the endpoint, its token, and where it listens. */
export interface UpstashEndpointOptions {
  /** redis://127.0.0.1:P of the redis-server behind the endpoint. */
  redisUrl: string;
  token: string;
  /** 0 or missing → a free loopback port. */
  port?: number;
  host?: string;
  log?: LogFn;
  /** Redis connections used round-robin (each request goes to one connection in one write); default 1. */
  connections?: number;
  /** Per-command timeout in ms (a hung redis-server); default 15000. */
  commandTimeoutMs?: number;
}

/** A running endpoint: its URL and token, its counters, and `close()`. */
export interface UpstashEndpoint {
  /** http://127.0.0.1:P (the REST base URL) */
  readonly url: string;
  readonly port: number;
  readonly token: string;
  stats(): UpstashStats;
  resetStats(): void;
  /** Resolves once every redis connection is ready again (after redis-server restarted). */
  waitUntilConnected(timeoutMs?: number): Promise<void>;
  /** Resolves once no redis connection reports ready (after redis-server stopped). */
  waitUntilDisconnected(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const UNAVAILABLE = "redis-server is not reachable (stopped or restarting); the request was not executed";

function connectionError(e: unknown): UpstashHttpError {
  const msg = e instanceof Error ? e.message : String(e);
  return new UpstashHttpError(503, `${UNAVAILABLE}: ${msg}`);
}

/** Starts the endpoint on a loopback port once its redis connections are ready. */
export async function startUpstashEndpoint(opts: UpstashEndpointOptions): Promise<UpstashEndpoint> {
  const host = opts.host ?? LOOPBACK;
  const log = opts.log ?? (() => {});
  const nConn = Math.max(1, opts.connections ?? 1);

  const target = new URL(opts.redisUrl);
  const clients = Array.from(
    { length: nConn },
    () =>
      new RespClient({
        host: target.hostname || LOOPBACK,
        port: Number(target.port || 6379),
        commandTimeoutMs: opts.commandTimeoutMs ?? 15_000,
        reconnectDelayMs: 100,
        onError: (m) => {
          if (!/ECONNREFUSED|ECONNRESET|EPIPE/.test(m)) log(`upstash endpoint: redis ${m}`);
        },
      }),
  );
  // The first connect must succeed (redis-server is up when the endpoint starts).
  try {
    await Promise.all(clients.map((c) => c.waitReady(5000)));
  } catch (e) {
    for (const c of clients) c.close();
    throw e;
  }
  let rr = 0;
  const pick = () => {
    // Round robin over ready connections; if none is ready the caller gets a 503.
    for (let i = 0; i < clients.length; i++) {
      const c = clients[(rr++ & 0x7fffffff) % clients.length]!;
      if (c.status === "ready") return c;
    }
    return undefined;
  };

  let commands = new Map<string, number>();
  let requests = 0;
  const count = (name: string) => commands.set(name, (commands.get(name) ?? 0) + 1);

  async function exchange(batch: RedisArg[][]): Promise<RespValue[]> {
    const c = pick();
    if (!c) throw connectionError("not connected");
    try {
      return await c.send(batch);
    } catch (e) {
      throw e instanceof RespConnectionError ? connectionError(e) : e;
    }
  }

  async function runOne(args: RedisArg[], base64: boolean): Promise<UpstashReply> {
    const rejected = rejectCommand(args);
    if (rejected) return { error: rejected };
    const [reply] = await exchange([args]);
    if (reply instanceof RespError) return { error: reply.message };
    return { result: encodeReply(reply, base64) };
  }

  async function runPipeline(cmds: RedisArg[][], base64: boolean): Promise<UpstashReply[]> {
    const out = new Array<UpstashReply>(cmds.length);
    const index: number[] = [];
    const batch: RedisArg[][] = [];
    for (let i = 0; i < cmds.length; i++) {
      const rejected = rejectCommand(cmds[i]!);
      if (rejected) {
        out[i] = { error: rejected };
      } else {
        index.push(i);
        batch.push(cmds[i]!);
      }
    }
    if (batch.length > 0) {
      const replies = await exchange(batch);
      for (let j = 0; j < index.length; j++) {
        const r = replies[j];
        out[index[j]!] = r instanceof RespError ? { error: r.message } : { result: encodeReply(r, base64) };
      }
    }
    return out;
  }

  async function runMulti(cmds: RedisArg[][], base64: boolean): Promise<UpstashReply[]> {
    for (const args of cmds) {
      const rejected = rejectCommand(args);
      if (rejected) throw new UpstashHttpError(400, `EXECABORT Transaction discarded because of previous errors: ${rejected}`);
    }
    // MULTI, the commands and EXEC leave in one write on one connection: nothing can interleave.
    const replies = await exchange([["MULTI"], ...cmds, ["EXEC"]]);
    const exec = replies[replies.length - 1];
    if (exec instanceof RespError) {
      const queued = replies.slice(1, -1).filter((r): r is RespError => r instanceof RespError);
      const detail = queued.length ? `: ${queued.map((x) => x.message).join("; ")}` : "";
      throw new UpstashHttpError(400, `${exec.message.replace(/\.$/, "")}${detail}`);
    }
    if (!Array.isArray(exec)) throw new UpstashHttpError(400, "EXECABORT transaction aborted");
    return exec.map((r) => (r instanceof RespError ? { error: r.message } : { result: encodeReply(r, base64) }));
  }

  function send(res: http.ServerResponse, status: number, body: unknown): void {
    const json = JSON.stringify(body);
    res.writeHead(status, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(json),
    });
    res.end(json);
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse, raw: string): Promise<void> {
    requests++;
    const qIdx = req.url!.indexOf("?");
    const pathname = qIdx < 0 ? req.url! : req.url!.slice(0, qIdx);
    const search = new URLSearchParams(qIdx < 0 ? "" : req.url!.slice(qIdx + 1));
    if (requestToken(req.headers.authorization, search) !== opts.token) {
      return send(res, 401, { error: "Unauthorized: missing or wrong bearer token" });
    }
    const base64 = (req.headers["upstash-encoding"] as string | undefined)?.toLowerCase() === "base64";
    try {
      if (req.method === "POST" && (pathname === "/pipeline" || pathname === "/multi-exec")) {
        const route = pathname === "/pipeline" ? "pipeline" : "multi-exec";
        const cmds = parseCommands(raw, route);
        for (const c of cmds) count(c[0]!);
        const out = route === "pipeline" ? await runPipeline(cmds, base64) : await runMulti(cmds, base64);
        return send(res, 200, out);
      }
      let command: unknown;
      if (req.method === "POST" && (pathname === "/" || pathname === "")) {
        try {
          command = JSON.parse(raw);
        } catch {
          throw new UpstashHttpError(400, "ERR failed to parse request body as JSON");
        }
      } else if (req.method === "GET" || req.method === "POST" || req.method === "PUT") {
        command = parsePathCommand(pathname, search, req.method === "GET" ? undefined : raw);
        if (!command) throw new UpstashHttpError(400, "ERR no command given");
      } else {
        throw new UpstashHttpError(405, `ERR method ${req.method} not allowed`);
      }
      const args = toRedisArgs(command);
      count(args[0]!);
      const r = await runOne(args, base64);
      return send(res, "error" in r ? 400 : 200, r);
    } catch (e) {
      if (e instanceof UpstashHttpError) return send(res, e.status, { error: e.message });
      return send(res, 500, { error: `ERR internal error: ${(e as Error).message}` });
    }
  }

  const server = http.createServer({ keepAliveTimeout: 65_000, requestTimeout: 0 }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const raw = chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks).toString("utf8");
      handle(req, res, raw).catch((e) => {
        if (!res.headersSent) send(res, 500, { error: `ERR internal error: ${(e as Error).message}` });
      });
    });
  });
  server.headersTimeout = 66_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e) =>
      reject(new Error(`Upstash endpoint cannot listen on ${host}:${opts.port ?? 0}: ${e.message}`, { cause: e })),
    );
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  const url = `http://${host}:${port}`;
  log(`Upstash REST endpoint on ${url} → ${opts.redisUrl}`);

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    token: opts.token,
    stats: () => ({ upstashCommands: Object.fromEntries(commands), upstashRequests: requests }),
    resetStats: () => {
      commands = new Map();
      requests = 0;
    },
    waitUntilConnected: async (timeoutMs = 10_000) => {
      for (const c of clients) c.reconnectNow();
      const deadline = Date.now() + timeoutMs;
      while (!clients.every((c) => c.status === "ready")) {
        if (Date.now() > deadline) throw new Error(`Upstash endpoint: redis connection not ready after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    waitUntilDisconnected: async (timeoutMs = 2_000) => {
      const deadline = Date.now() + timeoutMs;
      while (clients.some((c) => c.status === "ready") && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    close: () =>
      (closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        for (const c of clients) c.close();
      })()),
  };
}
