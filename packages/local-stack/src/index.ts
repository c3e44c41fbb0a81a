/**
 * @foundation/local-stack: a real redis-server and PostgreSQL for local development and tests,
 * with endpoints speaking Upstash's REST protocol and Neon's HTTP/WebSocket protocols in front.
 *
 * @example
 *   const stack = await startLocalStack({ root: repoRoot, profile: "test" });
 *   // workers: UPSTASH_REDIS_REST_URL=stack.upstash.url, UPSTASH_REDIS_REST_TOKEN=stack.upstash.token,
 *   //          DATABASE_URL=stack.neon.databaseUrl, NEON_HTTP_ENDPOINT=stack.neon.httpEndpoint,
 *   //          NEON_WS_PROXY=stack.neon.wsProxy
 *   await stack.stop();
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join, resolve } from "node:path";
import { ensureBinaries } from "./binaries.ts";
import { acquireOwnership, cleanStaleTestDirs, wipeTestDir } from "./data-dir.ts";
import { startControlEndpoint, type ControlEndpoint } from "./control-endpoint.ts";
import { applyMigrations } from "./migrate.ts";
import { startNeonEndpoint, type NeonEndpoint } from "./neon-endpoint.ts";
import { resolvePorts } from "./ports.ts";
import { createVectorDb, type VectorDbServer } from "./pglite-server.ts";
import { createPostgresServer, type PostgresServer } from "./postgres.ts";
import { childPids, elapsed, type LogFn } from "./process.ts";
import { createRedisServer, type RedisServer } from "./redis-server.ts";
import { startUpstashEndpoint, type UpstashEndpoint, type UpstashStats } from "./upstash-endpoint.ts";

export * from "./binaries.ts";
export * from "./chromium.ts";
export * from "./control-endpoint.ts";
export { dataDirFor } from "./data-dir.ts";
export * from "./migrate.ts";
export * from "./neon-endpoint.ts";
export * from "./neon-protocol.ts";
export * from "./pglite-server.ts";
export * from "./pglite-wire.ts";
export * from "./ports.ts";
export * from "./postgres.ts";
export * from "./prometheus.ts";
export * from "./redis-server.ts";
export * from "./resp.ts";
export * from "./upstash-endpoint.ts";
export * from "./upstash-protocol.ts";
export type { LogFn } from "./process.ts";

/** The stack's six parts, which each get a port. */
export type ServiceName = "redis" | "postgres" | "vector" | "upstash" | "neon" | "control";
/** Every ServiceName: the keys of `LocalStackOptions.ports`. */
export const SERVICE_NAMES: readonly ServiceName[] = ["redis", "postgres", "vector", "upstash", "neon", "control"];

/** Where the stack keeps its data, its profile, and optional fixed ports and tokens. */
export interface LocalStackOptions {
  /** Project root; data lives in <root>/.local/<profile>/ */
  root: string;
  /** "test": wipe its data folder at start (hermetic); "dev": keep data across runs */
  profile: "dev" | "test";
  /** Missing or 0 → pick a free loopback port. */
  ports?: Partial<Record<ServiceName, number>>;
  /** Default: random (dev profile: random once, then reused from <data>/tokens.json). */
  upstashToken?: string;
  /** Default: random (dev profile: random once, then reused from <data>/tokens.json). */
  controlToken?: string;
  /** Default <root>/migrations; drizzle-kit folder with meta/_journal.json, skipped with a log line if there is none. */
  migrationsDir?: string;
  /** Progress lines; default: console.log with a "[local-stack] " prefix. */
  log?: (line: string) => void;
}

/** A running stack: the addresses of its parts, stop/start of the servers, and `stop()`. */
export interface LocalStack {
  redis: { port: number; url: string };
  postgres: { port: number; databaseUrl: string };
  /**
   * The vector database: PGlite with pgvector (Debian's PostgreSQL has no pgvector), migrated like PostgreSQL,
   * reachable through the same Neon endpoints with this URL (workers' `VECTOR_DATABASE_URL`).
   */
  vector: { port: number; databaseUrl: string };
  /** REST base URL http://127.0.0.1:P and its bearer token. */
  upstash: { url: string; token: string };
  /**
   * httpEndpoint "http://127.0.0.1:P/sql" (neonConfig.fetchEndpoint); wsProxy "127.0.0.1:P/v1"
   * (neonConfig.wsProxy = (host, port) => `${wsProxy}?address=${host}:${port}`, or the string itself);
   * databaseUrl is what workers pass to neon()/Pool (same as postgres.databaseUrl).
   */
  neon: { httpEndpoint: string; wsProxy: string; databaseUrl: string };
  control: { url: string; token: string };
  /** Data folder actually used: <root>/.local/<profile>, or <root>/.local/test-<pid> when a parallel test run holds the former. */
  dataDir: string;
  /** Really stops redis-server after saving its data (the Upstash endpoint then answers 503 at once). */
  stopRedis(): Promise<void>;
  /** Starts redis-server again on the same port with the data it saved, and waits until the endpoint is connected. */
  startRedis(): Promise<void>;
  /** Fast shutdown of PostgreSQL (data kept). */
  stopPostgres(): Promise<void>;
  /** Starts PostgreSQL again on the same port and waits until `select 1` works. */
  startPostgres(): Promise<void>;
  /** Freezes redis-server (SIGSTOP): requests hang, as with a Redis that does not answer, until `resumeRedis()`. */
  pauseRedis(): Promise<void>;
  /** Thaws redis-server (SIGCONT): it runs what it was sent meanwhile and answers again. */
  resumeRedis(): Promise<void>;
  /** Freezes PostgreSQL and its backends (SIGSTOP): queries hang until `resumePostgres()`. */
  pausePostgres(): Promise<void>;
  /** Thaws PostgreSQL (SIGCONT). */
  resumePostgres(): Promise<void>;
  stats(): UpstashStats;
  resetStats(): void;
  /** Stops endpoints, redis-server and PostgreSQL; idempotent; every part is attempted even if one fails. */
  stop(): Promise<void>;
}

/** JSON-serialisable description of a running stack (vitest `inject("stack")`, `.local/<profile>/stack.json`). */
export interface StackInfo {
  upstashUrl: string;
  upstashToken: string;
  neonHttpEndpoint: string;
  neonWsProxy: string;
  databaseUrl: string;
  vectorDatabaseUrl: string;
  controlUrl: string;
  controlToken: string;
  redisUrl: string;
}

/**
 * The bindings that point a worker at the stack: Redis through the local Upstash endpoint, Postgres through the local
 * Neon endpoints. `npm run dev`, the Node-side tests and the benches give these to every worker they run.
 * @example builtWorkers({ bindings: { gateway: { ...workerBindings(stack), JWT_SECRET } } })
 */
export function workerBindings(stack: LocalStack): Record<string, string> {
  return {
    UPSTASH_REDIS_REST_URL: stack.upstash.url,
    UPSTASH_REDIS_REST_TOKEN: stack.upstash.token,
    DATABASE_URL: stack.neon.databaseUrl,
    NEON_HTTP_ENDPOINT: stack.neon.httpEndpoint,
    NEON_WS_PROXY: stack.neon.wsProxy,
  };
}

/** The StackInfo of a running stack. */
export function stackInfo(stack: LocalStack): StackInfo {
  return {
    upstashUrl: stack.upstash.url,
    upstashToken: stack.upstash.token,
    neonHttpEndpoint: stack.neon.httpEndpoint,
    neonWsProxy: stack.neon.wsProxy,
    databaseUrl: stack.neon.databaseUrl,
    vectorDatabaseUrl: stack.vector.databaseUrl,
    controlUrl: stack.control.url,
    controlToken: stack.control.token,
    redisUrl: stack.redis.url,
  };
}

const randomToken = () => randomBytes(24).toString("base64url");

/** SIGCONT, synchronously (for the exit hook); a process that is gone is skipped. */
function thaw(pid: number): void {
  try {
    process.kill(pid, "SIGCONT");
  } catch {
    /* gone */
  }
}

function loadTokens(dir: string, profile: "dev" | "test", opts: LocalStackOptions): { upstash: string; control: string } {
  const file = join(dir, "tokens.json");
  let saved: { upstash?: string; control?: string } = {};
  if (profile === "dev" && existsSync(file)) {
    try {
      saved = JSON.parse(readFileSync(file, "utf8")) as typeof saved;
    } catch {
      saved = {};
    }
  }
  const tokens = {
    upstash: opts.upstashToken ?? saved.upstash ?? randomToken(),
    control: opts.controlToken ?? saved.control ?? randomToken(),
  };
  if (profile === "dev" && (saved.upstash !== tokens.upstash || saved.control !== tokens.control)) {
    writeFileSync(file, JSON.stringify({ upstash: tokens.upstash, control: tokens.control }, null, 2) + "\n", { mode: 0o600 });
  }
  return tokens;
}

/** Starts redis-server, PostgreSQL (migrated) and the three endpoints; stops what started if any part fails. */
export async function startLocalStack(opts: LocalStackOptions): Promise<LocalStack> {
  const t0 = performance.now();
  const log: LogFn = opts.log ?? ((line) => console.log(`[local-stack] ${line}`));
  const root = resolve(opts.root);
  const profile = opts.profile;
  if (profile !== "dev" && profile !== "test") throw new Error(`profile must be "dev" or "test", got ${JSON.stringify(profile)}`);
  const owner = acquireOwnership(root, profile, log);
  const dir = owner.dir;
  const release = () => owner.release();

  let redis: RedisServer | undefined;
  let postgres: PostgresServer | undefined;
  let vector: VectorDbServer | undefined;
  let upstash: UpstashEndpoint | undefined;
  let neon: NeonEndpoint | undefined;
  let control: ControlEndpoint | undefined;
  let exitHook: (() => void) | undefined;

  const stopAll = async (): Promise<void> => {
    const errors: unknown[] = [];
    const settle = async (ps: (Promise<void> | undefined)[]) => {
      const started = ps.filter((x): x is Promise<void> => x !== undefined);
      for (const r of await Promise.allSettled(started)) if (r.status === "rejected") errors.push(r.reason);
    };
    await settle([control?.close(), upstash?.close(), neon?.close()]);
    await settle([redis?.stop(), postgres?.stop(), vector?.stop()]);
    if (exitHook) process.removeListener("exit", exitHook);
    release();
    if (errors.length === 1) throw errors[0];
    if (errors.length > 1) throw new AggregateError(errors, `local stack stop: ${errors.length} parts failed`);
  };

  try {
    mkdirSync(dir, { recursive: true });
    if (profile === "test") {
      // Hermetic: kill whatever a crashed earlier run left behind, then start from an empty folder.
      await cleanStaleTestDirs(root, log);
      await wipeTestDir(dir, log);
      mkdirSync(dir, { recursive: true });
    }
    const tokens = loadTokens(dir, profile, opts);
    const bins = await ensureBinaries(log);
    const ports = await resolvePorts(SERVICE_NAMES, opts.ports ?? {});

    redis = createRedisServer({
      binary: bins.redisServer,
      version: bins.redisVersion,
      port: ports.redis,
      dir: join(dir, "redis"),
      logFile: join(dir, "redis-server.log"),
      // The dev profile keeps what it accepted across restarts, as Upstash does; the test profile starts empty anyway.
      persist: profile === "dev",
      log,
    });
    postgres = createPostgresServer({ bins, port: ports.postgres, dir, profile, log });
    vector = createVectorDb({ port: ports.vector, dir, persist: profile === "dev", log });
    const r = redis;
    const p = postgres;
    const v = vector;
    // Children get SIGTERM/SIGINT from the kernel if this process dies (setpriv --pdeathsig);
    // on an ordinary exit without stop() we signal them here as well.
    exitHook = () => {
      for (const [server, sig] of [
        [r, "SIGTERM"],
        [p, "SIGINT"],
      ] as const) {
        const pid = server.pid;
        if (pid) {
          try {
            process.kill(pid, sig);
          } catch {
            /* gone */
          }
          // A paused server would keep the signal pending for ever; its backends too, holding up PostgreSQL's shutdown.
          if (server.paused) for (const frozen of [pid, ...childPids(pid)]) thaw(frozen);
        }
      }
    };
    const exitHookServers = exitHook;
    exitHook = () => {
      exitHookServers();
      if (v.pid) {
        try {
          process.kill(v.pid, "SIGTERM");
        } catch {
          /* gone */
        }
      }
    };
    process.on("exit", exitHook);

    const [rs, ps, vs] = await Promise.allSettled([redis.start(), postgres.start(), vector.start()]);
    if (rs.status === "rejected") throw rs.reason;
    if (ps.status === "rejected") throw ps.reason;
    if (vs.status === "rejected") throw vs.reason;

    const migrationsDir = resolve(opts.migrationsDir ?? join(root, "migrations"));
    // allSettled: whatever started must be known to stopAll() even if a sibling failed.
    const started = await Promise.allSettled([
      startUpstashEndpoint({ redisUrl: redis.url, token: tokens.upstash, port: ports.upstash, log }).then((u) => (upstash = u)),
      startNeonEndpoint({ port: ports.neon, log }).then((n) => (neon = n)),
      applyMigrations({ databaseUrl: postgres.databaseUrl, migrationsDir, log }),
      // The same migrations: the vector tables appear only where pgvector is available, as on Neon.
      applyMigrations({ databaseUrl: vector.databaseUrl, migrationsDir, log: (line) => log(`vector database ${line}`) }),
    ]);
    for (const s of started) if (s.status === "rejected") throw s.reason;
    const up = upstash!;
    const ne = neon!;

    const stopRedis = async () => {
      await r.stop({ save: true });
      await up.waitUntilDisconnected();
    };
    const startRedis = async () => {
      await r.start();
      await up.waitUntilConnected();
    };
    const stopPostgres = async () => {
      ne.closeRelays(p.port);
      await p.stop();
    };
    const startPostgres = () => p.start();
    const pauseRedis = () => r.pause();
    const resumeRedis = () => r.resume();
    const pausePostgres = () => p.pause();
    const resumePostgres = () => p.resume();
    const stats = () => up.stats();
    const resetStats = () => up.resetStats();

    control = await startControlEndpoint({
      token: tokens.control,
      port: ports.control,
      log,
      actions: {
        stopRedis,
        startRedis,
        stopPostgres,
        startPostgres,
        pauseRedis,
        resumeRedis,
        pausePostgres,
        resumePostgres,
        stats,
        resetStats,
      },
    });

    let stopping: Promise<void> | undefined;
    const stack: LocalStack = {
      redis: { port: redis.port, url: redis.url },
      postgres: { port: postgres.port, databaseUrl: postgres.databaseUrl },
      vector: { port: vector.port, databaseUrl: vector.databaseUrl },
      upstash: { url: up.url, token: up.token },
      neon: { httpEndpoint: ne.httpEndpoint, wsProxy: ne.wsProxy, databaseUrl: postgres.databaseUrl },
      control: { url: control.url, token: control.token },
      dataDir: dir,
      stopRedis,
      startRedis,
      stopPostgres,
      startPostgres,
      pauseRedis,
      resumeRedis,
      pausePostgres,
      resumePostgres,
      stats,
      resetStats,
      stop: () =>
        (stopping ??= (async () => {
          const ts = performance.now();
          await stopAll();
          log(`local stack (${profile}) stopped (${elapsed(ts)})`);
        })()),
    };
    log(`local stack (${profile}) ready in ${elapsed(t0)}; data in ${dir}`);
    return stack;
  } catch (e) {
    await stopAll().catch((se: unknown) => log(`cleanup after failed start: ${(se as Error).message}`));
    throw e;
  }
}
