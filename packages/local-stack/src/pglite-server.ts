import { createRequire } from "node:module";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ChildProcess } from "node:child_process";
import pg from "pg";
import { elapsed, killFromPidFile, sleep, spawnServer, tailFile, terminate, waitForExit, type LogFn } from "./process.ts";

/** The port and folder of the vector database (PGlite with pgvector). */
export interface VectorDbOptions {
  port: number;
  /** Folder for its log and pid file; the data goes in `<dir>/pglite` when `persist`. */
  dir: string;
  /** Keep the data in `<dir>/pglite` across restarts (dev); otherwise in memory (tests: fast, and empty each run). */
  persist: boolean;
  log?: LogFn;
  /** How long to wait for `select 1` after spawning; default 60 s. */
  startTimeoutMs?: number;
}

/** A running vector database: its address, pid and `stop()`. */
export interface VectorDbServer {
  readonly port: number;
  /** postgres://postgres:pglite@127.0.0.1:P/postgres (PGlite accepts any password). */
  readonly databaseUrl: string;
  readonly pid: number | undefined;
  start(): Promise<void>;
  /** SIGTERM: the process closes the database (flushing it to its folder) and exits; SIGKILL after 15 s. */
  stop(): Promise<void>;
}

const MAIN = join(dirname(fileURLToPath(import.meta.url)), "pglite-main.ts");

async function answers(databaseUrl: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 1000 });
  client.on("error", () => {});
  try {
    await client.connect();
    await client.query("select 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/** Prepares (does not start) the vector database process. */
export function createVectorDb(opts: VectorDbOptions): VectorDbServer {
  const log = opts.log ?? (() => {});
  const logFile = join(opts.dir, "pglite.log");
  const pidFile = join(opts.dir, "pglite.pid");
  const databaseUrl = `postgres://postgres:pglite@127.0.0.1:${opts.port}/postgres`;
  let child: ChildProcess | undefined;

  return {
    port: opts.port,
    databaseUrl,
    get pid() {
      return child?.pid;
    },
    async start() {
      const t0 = performance.now();
      mkdirSync(opts.dir, { recursive: true });
      await killFromPidFile(pidFile, "pglite-main", "SIGTERM", 15_000);
      const data = opts.persist ? join(opts.dir, "pglite") : "memory://";
      // tsx runs the TypeScript entry; resolved from this package so the child finds it whatever its cwd.
      const tsx = createRequire(import.meta.url).resolve("tsx");
      child = spawnServer({
        command: process.execPath,
        args: ["--import", tsx, MAIN, "--port", String(opts.port), "--data", data, "--pidfile", pidFile],
        logFile,
        parentDeathSignal: "TERM",
        cwd: dirname(MAIN),
      });
      const deadline = Date.now() + (opts.startTimeoutMs ?? 60_000);
      while (!(await answers(databaseUrl))) {
        if (child.exitCode !== null || child.signalCode !== null || Date.now() > deadline) {
          await terminate(child, "SIGKILL", 1000);
          throw new Error(`the vector database (PGlite) did not start on port ${opts.port}:\n${await tailFile(logFile)}`);
        }
        await sleep(200);
      }
      log(`vector database (PGlite + pgvector) on ${databaseUrl.replace(/:[^:@/]+@/, ":***@")} (${elapsed(t0)})`);
    },
    async stop() {
      const c = child;
      if (!c) return;
      child = undefined;
      await terminate(c, "SIGTERM", 15_000);
      await waitForExit(c);
    },
  };
}
