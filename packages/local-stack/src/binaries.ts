import { existsSync, readdirSync, accessSync, constants } from "node:fs";
import { join, delimiter } from "node:path";
import { run, type LogFn } from "./process.ts";

/** Paths of the server binaries found and their versions. */
export interface Binaries {
  redisServer: string;
  initdb: string;
  pgCtl: string;
  postgres: string;
  /** e.g. "7.0.15" */
  redisVersion: string;
  /** e.g. "15.14" */
  postgresVersion: string;
}

/** What to run when redis-server or PostgreSQL is missing (Debian packages). */
export const INSTALL_COMMAND = "sudo apt-get install -y redis-server postgresql";

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Looks a program up on PATH (plus the usual sbin folders PATH may lack). */
export function which(name: string): string | undefined {
  const dirs = (process.env.PATH ?? "").split(delimiter).filter(Boolean);
  for (const extra of ["/usr/local/bin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/sbin"]) {
    if (!dirs.includes(extra)) dirs.push(extra);
  }
  for (const d of dirs) {
    const p = join(d, name);
    if (isExecutable(p)) return p;
  }
  return undefined;
}

/** `/usr/lib/postgresql/<major>/bin` folders, newest major first. */
export function debianPostgresBinDirs(base = "/usr/lib/postgresql"): string[] {
  if (!existsSync(base)) return [];
  return readdirSync(base)
    .filter((v) => /^\d+(\.\d+)?$/.test(v))
    .sort((a, b) => Number.parseFloat(b) - Number.parseFloat(a))
    .map((v) => join(base, v, "bin"))
    .filter((d) => isExecutable(join(d, "postgres")));
}

/** Finds the binaries without installing anything; missing ones are undefined. */
export function findBinaries(): Partial<Pick<Binaries, "redisServer" | "initdb" | "pgCtl" | "postgres">> {
  const out: Partial<Pick<Binaries, "redisServer" | "initdb" | "pgCtl" | "postgres">> = {};
  out.redisServer = which("redis-server");
  const pgDir = debianPostgresBinDirs()[0];
  const pg = (name: string) => (pgDir && isExecutable(join(pgDir, name)) ? join(pgDir, name) : which(name));
  out.initdb = pg("initdb");
  out.pgCtl = pg("pg_ctl");
  out.postgres = pg("postgres");
  return out;
}

/** Parses "Redis server v=7.0.15 sha=..." → "7.0.15". */
export function parseRedisVersion(text: string): string {
  return /v=(\d+\.\d+\.\d+)/.exec(text)?.[1] ?? "unknown";
}

/** Parses "postgres (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)" → "15.14". */
export function parsePostgresVersion(text: string): string {
  return /\(PostgreSQL\)\s+(\d+(?:\.\d+)?)/.exec(text)?.[1] ?? "unknown";
}

let cached: Promise<Binaries> | undefined;

/**
 * Finds redis-server and the PostgreSQL server binaries (newest /usr/lib/postgresql/<v>/bin first,
 * then PATH). When something is missing and we are root on Debian, installs them with apt-get;
 * otherwise throws an Error whose message is the command to run.
 */
export function ensureBinaries(log: LogFn = () => {}): Promise<Binaries> {
  cached ??= resolveBinaries(log).catch((e) => {
    cached = undefined;
    throw e;
  });
  return cached;
}

async function resolveBinaries(log: LogFn): Promise<Binaries> {
  let found = findBinaries();
  const missing = () => (["redisServer", "initdb", "pgCtl", "postgres"] as const).filter((k) => !found[k]);
  if (missing().length > 0) {
    const isRoot = process.getuid?.() === 0;
    const isDebian = existsSync("/etc/debian_version");
    if (!isRoot || !isDebian) {
      throw new Error(INSTALL_COMMAND);
    }
    log(`missing ${missing().join(", ")}: installing redis-server and postgresql with apt-get`);
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    const onLine = (l: string) => log(`apt: ${l}`);
    await run("apt-get", ["update"], { env, onLine });
    await run("apt-get", ["install", "-y", "redis-server", "postgresql"], { env, onLine });
    found = findBinaries();
    if (missing().length > 0) {
      throw new Error(`still missing ${missing().join(", ")} after apt-get; run: ${INSTALL_COMMAND}`);
    }
  }
  const [redisV, pgV] = await Promise.all([
    run(found.redisServer!, ["--version"]).catch(() => ""),
    run(found.postgres!, ["--version"]).catch(() => ""),
  ]);
  return {
    redisServer: found.redisServer!,
    initdb: found.initdb!,
    pgCtl: found.pgCtl!,
    postgres: found.postgres!,
    redisVersion: parseRedisVersion(redisV),
    postgresVersion: parsePostgresVersion(pgV),
  };
}
