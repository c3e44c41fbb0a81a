import net from "node:net";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import { LOOPBACK } from "./ports.ts";
import { elapsed, freeze, killFromPidFile, sleep, spawnServer, tailFile, terminate, waitForExit, type LogFn } from "./process.ts";

/** The binary, port and folder of a redis-server. */
export interface RedisServerOptions {
  /** Path of redis-server. */
  binary: string;
  /** Version shown in progress lines. */
  version?: string;
  port: number;
  /** Working folder: pid file, the RDB that a saving stop writes, and the append-only file when `persist` is set. */
  dir: string;
  /**
   * Log every write to an append-only file in `dir` (fsync once a second), so the data outlives a restart of the
   * stack or a crash, as Upstash's does; default false (the test profile: faster, and wiped at start anyway).
   */
  persist?: boolean;
  /** Where stdout/stderr of redis-server go; default `<dir>/redis-server.log`. */
  logFile?: string;
  log?: LogFn;
  /** How long to wait for PING after spawning; default 15 s. */
  startTimeoutMs?: number;
}

/** A redis-server of the stack: its address, and how to start and stop it. */
export interface RedisServer {
  readonly port: number;
  /** redis://127.0.0.1:P */
  readonly url: string;
  readonly pid: number | undefined;
  readonly running: boolean;
  /** True between {@link RedisServer.pause} and {@link RedisServer.resume}. */
  readonly paused: boolean;
  /** Spawns redis-server and resolves when PING answers; continues a paused one. */
  start(): Promise<void>;
  /**
   * SIGTERM (nothing saved but the append-only file of `persist`), SIGKILL after 5 s; resolves once the process has
   * exited. With `save`, it first asks for `SHUTDOWN SAVE`, so the next start loads the data again: a durable
   * restart, as Upstash's.
   */
  stop(options?: { save?: boolean }): Promise<void>;
  /** SIGSTOP: the server hangs (connections are accepted, nothing answers) until {@link RedisServer.resume}. */
  pause(): Promise<void>;
  /** SIGCONT: the server answers again, the commands it was sent meanwhile first. */
  resume(): Promise<void>;
}

/** Command-line arguments for a loopback-only redis-server: no snapshots, and an append-only file when `persist`. */
export function redisServerArgs(port: number, dir: string, persist = false): string[] {
  return [
    "--port",
    String(port),
    "--bind",
    LOOPBACK,
    "--save",
    "",
    "--appendonly",
    persist ? "yes" : "no",
    "--dir",
    dir,
    "--daemonize",
    "no",
    "--protected-mode",
    "yes",
    "--pidfile",
    join(dir, "redis-server.pid"),
    "--logfile",
    "",
    "--loglevel",
    "notice",
  ];
}

/** Sends an inline PING; true when "+PONG" comes back within `timeoutMs`. */
export function redisPing(port: number, host = LOOPBACK, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    let buf = "";
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("error", () => done(false));
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.on("data", (d) => {
      buf += d.toString("latin1");
      if (buf.includes("\r\n")) done(buf.startsWith("+PONG"));
    });
  });
}

/** Sends `SHUTDOWN SAVE`; resolves when the server closed the connection (it exits after saving), or after `timeoutMs`. */
function shutdownSave(port: number, host = LOOPBACK, timeoutMs = 10_000): Promise<void> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = () => {
      socket.destroy();
      resolve();
    };
    socket.setTimeout(timeoutMs, done);
    socket.once("error", done);
    socket.once("close", done);
    socket.once("connect", () => socket.write("SHUTDOWN SAVE\r\n"));
  });
}

/** Prepares (does not start) a redis-server. */
export function createRedisServer(opts: RedisServerOptions): RedisServer {
  const log = opts.log ?? (() => {});
  const logFile = opts.logFile ?? join(opts.dir, "redis-server.log");
  const pidFile = join(opts.dir, "redis-server.pid");
  let child: ChildProcess | undefined;
  let paused = false;
  let transition: Promise<void> = Promise.resolve();
  const serial = (fn: () => Promise<void>) => (transition = transition.catch(() => {}).then(fn));

  const isRunning = () => !!child && child.exitCode === null && child.signalCode === null;

  async function doFreeze(frozen: boolean): Promise<void> {
    const pid = child?.pid;
    if (!isRunning() || pid === undefined) throw new Error(`redis-server on ${LOOPBACK}:${opts.port} is not running`);
    if (paused === frozen) return;
    await freeze([pid], frozen);
    paused = frozen;
    log(`redis-server on ${LOOPBACK}:${opts.port} ${frozen ? "paused (SIGSTOP)" : "resumed (SIGCONT)"}`);
  }

  async function doStart(): Promise<void> {
    if (isRunning()) return doFreeze(false);
    mkdirSync(opts.dir, { recursive: true });
    const leftover = await killFromPidFile(pidFile, "redis-server", "SIGTERM", 3000);
    if (leftover) log(`killed leftover redis-server (pid ${leftover}) of ${opts.dir}`);
    const t0 = performance.now();
    paused = false;
    const proc = spawnServer({
      command: opts.binary,
      args: redisServerArgs(opts.port, opts.dir, opts.persist),
      logFile,
      parentDeathSignal: "TERM",
      cwd: opts.dir,
    });
    child = proc;
    let spawnError: Error | undefined;
    proc.once("error", (e) => (spawnError = e));
    const deadline = Date.now() + (opts.startTimeoutMs ?? 15_000);
    for (;;) {
      if (spawnError) throw new Error(`redis-server could not be started (${opts.binary}): ${spawnError.message}`);
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw new Error(
          `redis-server failed to start on ${LOOPBACK}:${opts.port} (${proc.signalCode ?? `exit ${proc.exitCode}`}); ` +
            `last lines of ${logFile}:\n${await tailFile(logFile)}`,
        );
      }
      if (await redisPing(opts.port, LOOPBACK, 300)) break;
      if (Date.now() > deadline) {
        await terminate(proc, "SIGKILL", 1000);
        throw new Error(
          `redis-server did not answer PING on ${LOOPBACK}:${opts.port}; last lines of ${logFile}:\n${await tailFile(logFile)}`,
        );
      }
      await sleep(20);
    }
    log(`redis-server ${opts.version ?? ""} ready on ${LOOPBACK}:${opts.port} (${elapsed(t0)})`.replace("  ", " "));
  }

  async function doStop(save: boolean): Promise<void> {
    const proc = child;
    if (!proc) return;
    if (isRunning()) {
      // A stopped process would keep SIGTERM pending, and could not save.
      await doFreeze(false);
      const t0 = performance.now();
      if (save) {
        await shutdownSave(opts.port);
        await Promise.race([waitForExit(proc), sleep(10_000)]);
      }
      await terminate(proc, "SIGTERM", 5000);
      log(`redis-server on ${LOOPBACK}:${opts.port} stopped (${elapsed(t0)})`);
    } else {
      await waitForExit(proc);
    }
  }

  return {
    port: opts.port,
    url: `redis://${LOOPBACK}:${opts.port}`,
    get pid() {
      return isRunning() ? child?.pid : undefined;
    },
    get running() {
      return isRunning();
    },
    get paused() {
      return isRunning() && paused;
    },
    start: () => serial(doStart),
    stop: (options) => serial(() => doStop(options?.save ?? false)),
    pause: () => serial(() => doFreeze(true)),
    resume: () => serial(() => doFreeze(false)),
  };
}

/** Creates and starts a redis-server; see {@link createRedisServer}. */
export async function startRedisServer(opts: RedisServerOptions): Promise<RedisServer> {
  const server = createRedisServer(opts);
  await server.start();
  return server;
}
