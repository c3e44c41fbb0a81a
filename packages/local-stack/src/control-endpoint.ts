/**
 * Loopback-only HTTP endpoint through which tests running inside workerd (which cannot spawn
 * processes) stop and restart the real servers and read the Upstash endpoint's counters.
 *
 *   POST /redis/stop | /redis/start | /postgres/stop | /postgres/start → 200 {ok:true} once done
 *   POST /redis/pause | /redis/resume | /postgres/pause | /postgres/resume → SIGSTOP / SIGCONT, 200 {ok:true} once done
 *   GET  /stats → {upstashCommands, upstashRequests}      POST /stats/reset → {ok:true}
 *   GET  /health → {ok:true} (no token needed)
 * All other routes need `Authorization: Bearer <control token>`. Actions run one at a time.
 */
import http from "node:http";
import { LOOPBACK } from "./ports.ts";
import type { LogFn } from "./process.ts";
import type { UpstashStats } from "./upstash-endpoint.ts";

/** What the control endpoint's routes do to the stack. */
export interface ControlActions {
  stopRedis(): Promise<void>;
  startRedis(): Promise<void>;
  stopPostgres(): Promise<void>;
  startPostgres(): Promise<void>;
  pauseRedis(): Promise<void>;
  resumeRedis(): Promise<void>;
  pausePostgres(): Promise<void>;
  resumePostgres(): Promise<void>;
  stats(): UpstashStats;
  resetStats(): void;
}

/** The control endpoint's token, actions, and where it listens. */
export interface ControlEndpointOptions {
  token: string;
  actions: ControlActions;
  /** 0 or missing → a free loopback port. */
  port?: number;
  host?: string;
  log?: LogFn;
}

/** A running control endpoint: its URL and token, and `close()`. */
export interface ControlEndpoint {
  /** http://127.0.0.1:P */
  readonly url: string;
  readonly port: number;
  readonly token: string;
  close(): Promise<void>;
}

type Route = { method: "GET" | "POST"; path: string; run: (a: ControlActions) => unknown };

/** The routes of the control endpoint, exported so other tooling can list them. */
export const CONTROL_ROUTES: readonly Route[] = [
  { method: "POST", path: "/redis/stop", run: async (a) => (await a.stopRedis(), { ok: true }) },
  { method: "POST", path: "/redis/start", run: async (a) => (await a.startRedis(), { ok: true }) },
  { method: "POST", path: "/postgres/stop", run: async (a) => (await a.stopPostgres(), { ok: true }) },
  { method: "POST", path: "/postgres/start", run: async (a) => (await a.startPostgres(), { ok: true }) },
  { method: "POST", path: "/redis/pause", run: async (a) => (await a.pauseRedis(), { ok: true }) },
  { method: "POST", path: "/redis/resume", run: async (a) => (await a.resumeRedis(), { ok: true }) },
  { method: "POST", path: "/postgres/pause", run: async (a) => (await a.pausePostgres(), { ok: true }) },
  { method: "POST", path: "/postgres/resume", run: async (a) => (await a.resumePostgres(), { ok: true }) },
  { method: "GET", path: "/stats", run: (a) => a.stats() },
  { method: "POST", path: "/stats/reset", run: (a) => (a.resetStats(), { ok: true }) },
];

/** Starts the control endpoint on a loopback port. */
export async function startControlEndpoint(opts: ControlEndpointOptions): Promise<ControlEndpoint> {
  const host = opts.host ?? LOOPBACK;
  const log = opts.log ?? (() => {});
  let queue: Promise<unknown> = Promise.resolve();

  const send = (res: http.ServerResponse, status: number, body: unknown) => {
    const json = JSON.stringify(body);
    res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(json) });
    res.end(json);
  };

  const server = http.createServer({ requestTimeout: 0 }, (req, res) => {
    req.resume();
    req.on("end", () => {
      const path = (req.url ?? "/").split("?")[0]!.replace(/\/+$/, "") || "/";
      const remote = req.socket.remoteAddress ?? "";
      if (!(remote.startsWith("127.") || remote === "::1" || remote === "::ffff:127.0.0.1")) {
        return send(res, 403, { error: "loopback only" });
      }
      if (req.method === "GET" && path === "/health") return send(res, 200, { ok: true });
      const auth = req.headers.authorization ?? "";
      if (auth !== `Bearer ${opts.token}`) return send(res, 401, { error: "Unauthorized: missing or wrong bearer token" });
      const route = CONTROL_ROUTES.find((r) => r.path === path);
      if (!route) return send(res, 404, { error: `no route ${path}`, routes: CONTROL_ROUTES.map((r) => `${r.method} ${r.path}`) });
      if (route.method !== req.method) return send(res, 405, { error: `use ${route.method} ${route.path}` });
      const t0 = performance.now();
      const job = queue.catch(() => {}).then(() => route.run(opts.actions));
      queue = job;
      job.then(
        (body) => {
          if (route.method === "POST" && route.path !== "/stats/reset") {
            log(`control: ${route.path} done (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
          }
          send(res, 200, body);
        },
        (e: Error) => send(res, 500, { ok: false, error: e.message }),
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", (e) =>
      reject(new Error(`control endpoint cannot listen on ${host}:${opts.port ?? 0}: ${e.message}`, { cause: e })),
    );
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  const url = `http://${host}:${port}`;
  log(`control endpoint on ${url}`);
  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    token: opts.token,
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}
