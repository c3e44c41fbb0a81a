import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createHash, randomBytes } from "node:crypto";
import { dirname, join, resolve } from "node:path";
import type { ChildProcess } from "node:child_process";
import pg from "pg";
import type { Binaries } from "./binaries.ts";
import { LOOPBACK } from "./ports.ts";
import {
  childPids,
  elapsed,
  freeze,
  killFromPidFile,
  run,
  sleep,
  spawnServer,
  tailFile,
  terminate,
  waitForExit,
  type LogFn,
} from "./process.ts";

/** The binaries, port, profile folder and database of a PostgreSQL server. */
export interface PostgresOptions {
  bins: Pick<Binaries, "initdb" | "postgres"> & Partial<Pick<Binaries, "postgresVersion">>;
  port: number;
  /**
   * Profile folder: the cluster lives in `<dir>/postgres`, the password in `<dir>/postgres.password`,
   * the server log in `<dir>/postgres.log`.
   */
  dir: string;
  profile: "dev" | "test";
  log?: LogFn;
  /** Login role and database created for the application; default "foundation" for both. */
  user?: string;
  database?: string;
  /** Default 60 s. */
  startTimeoutMs?: number;
}

/** A PostgreSQL server of the stack: its address and credentials, and how to start and stop it. */
export interface PostgresServer {
  readonly port: number;
  readonly user: string;
  readonly database: string;
  readonly password: string;
  /** postgres://foundation:<pw>@127.0.0.1:P/foundation */
  readonly databaseUrl: string;
  readonly dataDir: string;
  readonly socketDir: string;
  readonly logFile: string;
  /** pid of the postmaster while it runs. */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** True between {@link PostgresServer.pause} and {@link PostgresServer.resume}. */
  readonly paused: boolean;
  /** initdb when needed, start the postmaster, create role and database, wait until `select 1` works; continues a paused one. */
  start(): Promise<void>;
  /** Fast shutdown (SIGINT, as `pg_ctl stop -m fast`), resolves when the postmaster has exited. */
  stop(): Promise<void>;
  /**
   * SIGSTOP to the postmaster and every backend: open connections and new ones hang (the kernel still accepts
   * them) until {@link PostgresServer.resume}.
   */
  pause(): Promise<void>;
  /** SIGCONT to the same processes: the queries sent meanwhile run. */
  resume(): Promise<void>;
  /** Runs SQL as the bootstrap superuser `postgres` over the unix socket. */
  adminQuery(sql: string, params?: unknown[]): Promise<pg.QueryResult>;
}

interface OsUser {
  uid: number;
  gid: number;
  name: string;
}

function lookupUser(name: string): OsUser | undefined {
  for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
    const f = line.split(":");
    if (f[0] === name) return { name, uid: Number(f[2]), gid: Number(f[3]) };
  }
  return undefined;
}

/** Settings passed with -c on every start (ports may change between runs; nothing is written to postgresql.conf). */
export function postgresSettings(port: number, socketDir: string, profile: "dev" | "test"): Record<string, string> {
  const s: Record<string, string> = {
    listen_addresses: LOOPBACK,
    port: String(port),
    unix_socket_directories: socketDir,
    max_connections: "200",
    logging_collector: "off",
    log_min_messages: "warning",
    timezone: "UTC",
  };
  if (profile === "test") {
    s.fsync = "off";
    s.synchronous_commit = "off";
    s.full_page_writes = "off";
  }
  return s;
}

/** `postgres` command-line arguments for a data folder and settings. */
export function postgresArgs(dataDir: string, settings: Record<string, string>): string[] {
  const args = ["-D", dataDir];
  for (const [k, v] of Object.entries(settings)) args.push("-c", `${k}=${v}`);
  return args;
}

/** Unix socket paths are limited to 107 bytes; fall back to a short folder under /tmp when the data path is too deep. */
function chooseSocketDir(dataDir: string, port: number): string {
  if (join(dataDir, `.s.PGSQL.${port}`).length < 100) return dataDir;
  const h = createHash("sha1").update(dataDir).digest("hex").slice(0, 12);
  return `/tmp/foundation-pg-${h}`;
}

/**
 * Makes every ancestor folder of `path` traversable by `user` (adds o+x where missing), so a server
 * running as `postgres` can reach a data folder inside, say, a home directory.
 */
function ensureTraversable(path: string, user: OsUser, log: LogFn): void {
  let dir = dirname(resolve(path));
  const seen: string[] = [];
  for (;;) {
    seen.push(dir);
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  for (const d of seen.reverse()) {
    const st = statSync(d);
    const ok = st.uid === user.uid ? (st.mode & 0o100) !== 0 : (st.mode & 0o001) !== 0;
    if (!ok) {
      chmodSync(d, st.mode | 0o001);
      log(`made ${d} traversable for the ${user.name} OS user (chmod o+x)`);
    }
  }
}

function chownTree(path: string, user: OsUser): Promise<string> {
  return run("chown", ["-R", `${user.uid}:${user.gid}`, path]);
}

/** Prepares (does not start) a PostgreSQL server; `start()` runs initdb on first use. */
export function createPostgresServer(opts: PostgresOptions): PostgresServer {
  const log = opts.log ?? (() => {});
  const user = opts.user ?? "foundation";
  const database = opts.database ?? "foundation";
  const dir = resolve(opts.dir);
  const dataDir = join(dir, "postgres");
  const logFile = join(dir, "postgres.log");
  const passwordFile = join(dir, "postgres.password");
  const socketDir = chooseSocketDir(dataDir, opts.port);
  const isRoot = process.getuid?.() === 0;
  const osUser = isRoot ? lookupUser("postgres") : undefined;
  if (isRoot && !osUser) {
    throw new Error("running as root but there is no `postgres` OS user to run PostgreSQL as; install it: apt-get install -y postgresql");
  }

  mkdirSync(dir, { recursive: true });
  let password: string;
  if (existsSync(passwordFile) && readFileSync(passwordFile, "utf8").trim()) {
    password = readFileSync(passwordFile, "utf8").trim();
  } else {
    password = randomBytes(16).toString("hex");
    writeFileSync(passwordFile, password + "\n", { mode: 0o600 });
  }
  const databaseUrl = `postgres://${user}:${password}@${LOOPBACK}:${opts.port}/${database}`;

  let child: ChildProcess | undefined;
  /** The processes a pause froze: the postmaster first (so it forks no new backend), then its children. */
  let frozen: number[] = [];
  let transition: Promise<void> = Promise.resolve();
  const serial = (fn: () => Promise<void>) => (transition = transition.catch(() => {}).then(fn));
  const isRunning = () => !!child && child.exitCode === null && child.signalCode === null;

  async function doPause(): Promise<void> {
    const pid = child?.pid;
    if (!isRunning() || pid === undefined) throw new Error(`PostgreSQL on ${LOOPBACK}:${opts.port} is not running`);
    if (frozen.length > 0) return;
    // Each backend is a session of its own (setsid), so signalling the process group would miss them.
    await freeze([pid], true);
    frozen = [pid, ...childPids(pid)];
    await freeze(frozen, true);
    log(`PostgreSQL on ${LOOPBACK}:${opts.port} paused (SIGSTOP to ${frozen.length} processes)`);
  }

  async function doResume(): Promise<void> {
    if (frozen.length === 0) return;
    await freeze(frozen, false);
    frozen = [];
    log(`PostgreSQL on ${LOOPBACK}:${opts.port} resumed (SIGCONT)`);
  }

  const adminConfig = (db = "postgres"): pg.ClientConfig => ({
    host: socketDir,
    port: opts.port,
    user: "postgres",
    database: db,
    connectionTimeoutMillis: 2000,
  });

  async function adminQuery(sql: string, params?: unknown[], db = "postgres"): Promise<pg.QueryResult> {
    const c = new pg.Client(adminConfig(db));
    c.on("error", () => {});
    await c.connect();
    try {
      return await c.query(sql, params as unknown[]);
    } finally {
      await c.end().catch(() => {});
    }
  }

  async function initdb(): Promise<void> {
    const t0 = performance.now();
    await run("rm", ["-rf", dataDir]);
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    chmodSync(dataDir, 0o700);
    if (osUser) {
      chownSync(dataDir, osUser.uid, osUser.gid);
      ensureTraversable(dataDir, osUser, log);
    }
    const locale = existsSync("/usr/lib/locale/C.utf8") ? ["--locale=C.UTF-8"] : ["--no-locale"];
    const args = [
      "-D",
      dataDir,
      "-U",
      "postgres",
      "--auth-local=trust",
      "--auth-host=scram-sha-256",
      "-E",
      "UTF8",
      ...locale,
      "--no-sync",
      "--no-instructions",
    ];
    const cmd = osUser ? "runuser" : opts.bins.initdb;
    const cmdArgs = osUser ? ["-u", osUser.name, "--", opts.bins.initdb, ...args] : args;
    try {
      await run(cmd, cmdArgs, { env: { ...process.env, LC_ALL: "C.UTF-8", LANG: "C.UTF-8" } });
    } catch (e) {
      throw new Error(`initdb failed for ${dataDir}: ${(e as Error).message}`, { cause: e });
    }
    log(`initdb ${dataDir} (${elapsed(t0)})`);
  }

  async function prepareDataDir(): Promise<void> {
    // A leftover postmaster on this data folder (crashed parent, killed test run) is stopped first.
    const leftover = await killFromPidFile(join(dataDir, "postmaster.pid"), "postgres", "SIGINT", 10_000);
    if (leftover) log(`stopped leftover postmaster (pid ${leftover}) of ${dataDir}`);
    if (!existsSync(join(dataDir, "PG_VERSION"))) {
      await initdb();
    } else if (osUser) {
      const st = statSync(dataDir);
      if (st.uid !== osUser.uid) await chownTree(dataDir, osUser);
      ensureTraversable(dataDir, osUser, log);
    }
    if (socketDir !== dataDir) {
      mkdirSync(socketDir, { recursive: true, mode: 0o700 });
      if (osUser) chownSync(socketDir, osUser.uid, osUser.gid);
    }
  }

  async function waitReady(proc: ChildProcess, t0: number): Promise<void> {
    const deadline = Date.now() + (opts.startTimeoutMs ?? 60_000);
    let lastError: string;
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw new Error(
          `PostgreSQL failed to start (${proc.signalCode ?? `exit ${proc.exitCode}`}): last lines of ${logFile}:\n${await tailFile(logFile)}`,
        );
      }
      try {
        await adminQuery("select 1");
        return;
      } catch (e) {
        lastError = (e as Error).message;
      }
      if (Date.now() > deadline) {
        await terminate(proc, "SIGQUIT", 3000);
        throw new Error(
          `PostgreSQL failed to start: not ready after ${elapsed(t0)} (${lastError}); last lines of ${logFile}:\n${await tailFile(logFile)}`,
        );
      }
      await sleep(25);
    }
  }

  async function bootstrapRoleAndDatabase(): Promise<void> {
    const quotedPw = `'${password.replace(/'/g, "''")}'`;
    const ident = `"${user.replace(/"/g, '""')}"`;
    const role = await adminQuery("select 1 from pg_roles where rolname = $1", [user]);
    if (role.rowCount === 0) {
      await adminQuery(`create role ${ident} login createdb createrole password ${quotedPw}`);
    } else {
      await adminQuery(`alter role ${ident} login password ${quotedPw}`);
    }
    const db = await adminQuery("select 1 from pg_database where datname = $1", [database]);
    if (db.rowCount === 0) {
      await adminQuery(`create database "${database.replace(/"/g, '""')}" owner ${ident}`);
    }
  }

  async function checkTcp(): Promise<void> {
    const c = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 3000 });
    c.on("error", () => {});
    try {
      await c.connect();
      await c.query("select 1");
    } catch (e) {
      throw new Error(`PostgreSQL started but ${user}@${LOOPBACK}:${opts.port} cannot run select 1: ${(e as Error).message}`, { cause: e });
    } finally {
      await c.end().catch(() => {});
    }
  }

  async function doStart(): Promise<void> {
    if (isRunning()) return doResume();
    frozen = [];
    const t0 = performance.now();
    await prepareDataDir();
    const tSpawn = performance.now();
    const proc = spawnServer({
      command: opts.bins.postgres,
      args: postgresArgs(dataDir, postgresSettings(opts.port, socketDir, opts.profile)),
      logFile,
      parentDeathSignal: "INT",
      runAs: osUser,
      cwd: dataDir,
      env: { ...process.env, LC_ALL: "C.UTF-8", LANG: "C.UTF-8", PGTZ: "UTC" },
    });
    child = proc;
    let spawnError: Error | undefined;
    proc.once("error", (e) => (spawnError = e));
    await sleep(5);
    if (spawnError) throw new Error(`PostgreSQL could not be started (${opts.bins.postgres}): ${spawnError.message}`);
    try {
      await waitReady(proc, tSpawn);
      await bootstrapRoleAndDatabase();
      await checkTcp();
    } catch (e) {
      await terminate(proc, "SIGINT", 5000).catch(() => {});
      throw e;
    }
    log(
      `PostgreSQL ${opts.bins.postgresVersion ?? ""} ready on ${LOOPBACK}:${opts.port} (${elapsed(t0)}; server start ${elapsed(tSpawn)})`.replace(
        "  ",
        " ",
      ),
    );
  }

  async function doStop(): Promise<void> {
    const proc = child;
    if (!proc) return;
    if (!isRunning()) return void (await waitForExit(proc));
    // A frozen postmaster would keep SIGINT pending, and frozen backends would hold up its shutdown.
    await doResume();
    const t0 = performance.now();
    // SIGINT = fast shutdown (what `pg_ctl stop -m fast` sends); SIGKILL if it hangs.
    await terminate(proc, "SIGINT", 20_000);
    log(`PostgreSQL on ${LOOPBACK}:${opts.port} stopped (${elapsed(t0)})`);
  }

  return {
    port: opts.port,
    user,
    database,
    password,
    databaseUrl,
    dataDir,
    socketDir,
    logFile,
    get pid() {
      return isRunning() ? child?.pid : undefined;
    },
    get running() {
      return isRunning();
    },
    get paused() {
      return isRunning() && frozen.length > 0;
    },
    start: () => serial(doStart),
    stop: () => serial(doStop),
    pause: () => serial(doPause),
    resume: () => serial(doResume),
    adminQuery: (sql, params) => adminQuery(sql, params),
  };
}

/** Creates and starts a PostgreSQL cluster; see {@link createPostgresServer}. */
export async function startPostgres(opts: PostgresOptions): Promise<PostgresServer> {
  const server = createPostgresServer(opts);
  await server.start();
  return server;
}
