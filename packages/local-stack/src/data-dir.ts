/**
 * Which data folder a stack uses and who owns it: one stack per folder, recorded in a pid file, so parallel
 * test processes each get a folder of their own and a crashed run's servers and folders are cleaned up.
 */
import { linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { killFromPidFile, pidAlive, processCommandLine, type LogFn } from "./process.ts";

/** `<root>/.local/<profile>` */
export function dataDirFor(root: string, profile: "dev" | "test"): string {
  return join(resolve(root), ".local", profile);
}

const ACTIVE_KEY = Symbol.for("@foundation/local-stack/active");
const active: Set<string> =
  ((globalThis as Record<symbol, unknown>)[ACTIVE_KEY] as Set<string> | undefined) ??
  ((globalThis as Record<symbol, unknown>)[ACTIVE_KEY] = new Set<string>());

type LockResult = { ok: true } | { ok: false; pid: number };

/** The pid in a lock file; undefined if the file is gone or holds none. */
function readPid(file: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(file, "utf8"), 10);
    return Number.isInteger(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Creates `lockFile` holding our pid; a stale lock (dead owner) is replaced. The pid is written to a file of
 * our own and hard-linked into place, because a lock created empty and written afterwards can be read empty
 * by a process starting at the same moment, which then takes it for stale and removes it: both would own it.
 */
function tryLock(lockFile: string): LockResult {
  const mine = `${lockFile}.${process.pid}.new`;
  writeFileSync(mine, `${process.pid}\n`);
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        linkSync(mine, lockFile);
        return { ok: true };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      }
      const pid = readPid(lockFile);
      if (pid !== undefined && pid !== process.pid && pidAlive(pid)) return { ok: false, pid };
      removeStaleLock(lockFile, pid);
    }
  } finally {
    rmSync(mine, { force: true });
  }
  throw new Error(`could not acquire ${lockFile}`);
}

/**
 * Removes a lock last seen holding the dead `stalePid`. It is moved aside first and checked: two processes
 * that found the same stale lock must not remove the fresh lock the quicker one has put in its place.
 */
function removeStaleLock(lockFile: string, stalePid: number | undefined): void {
  const aside = `${lockFile}.${process.pid}.stale`;
  try {
    renameSync(lockFile, aside);
  } catch {
    return;
  }
  try {
    if (readPid(aside) !== stalePid) linkSync(aside, lockFile);
  } catch {
    // A third process locked in between; three starts racing over one stale lock are beyond this.
  } finally {
    rmSync(aside, { force: true });
  }
}

/** A data folder this process owns until `release()`. */
export interface Ownership {
  dir: string;
  /** A per-process test folder (the shared one was busy): deleted again on stop. */
  ephemeral: boolean;
  release(): void;
}

/**
 * One stack per data folder, recorded in `<root>/.local/<profile>.pid`. A second *test* stack while
 * the first runs (two vitest processes) gets its own `<root>/.local/test-<pid>/` instead; a second dev
 * stack is refused (it would share the dev database).
 */
export function acquireOwnership(root: string, profile: "dev" | "test", log: LogFn): Ownership {
  const base = dataDirFor(root, profile);
  if (active.has(base)) {
    throw new Error(`a local stack for ${base} is already running in this process; reuse it (or stop() it first)`);
  }
  const localDir = join(resolve(root), ".local");
  mkdirSync(localDir, { recursive: true });
  let dir = base;
  let lockFile = join(localDir, `${profile}.pid`);
  let ephemeral = false;
  const r = tryLock(lockFile);
  if (!r.ok) {
    const who = `pid ${r.pid}: ${processCommandLine(r.pid).slice(0, 120)}`;
    if (profile === "dev") {
      throw new Error(`another local stack (${who}) is using ${base}; stop it first (kill ${r.pid})`);
    }
    dir = `${base}-${process.pid}`;
    lockFile = join(localDir, `${profile}-${process.pid}.pid`);
    ephemeral = true;
    const again = tryLock(lockFile);
    if (!again.ok) throw new Error(`${lockFile} is held by pid ${again.pid}`);
    log(`${base} is in use (${who}); this run uses ${dir}`);
  }
  active.add(base);
  return {
    dir,
    ephemeral,
    release: () => {
      active.delete(base);
      if (readPid(lockFile) === process.pid) rmSync(lockFile, { force: true });
      if (ephemeral) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Kills the servers of a test data folder (via their pid files) and deletes it. */
export async function wipeTestDir(dir: string, log: LogFn): Promise<void> {
  const [r0, p0] = await Promise.all([
    killFromPidFile(join(dir, "redis", "redis-server.pid"), "redis-server", "SIGKILL", 3000),
    killFromPidFile(join(dir, "postgres", "postmaster.pid"), "postgres", "SIGQUIT", 5000),
  ]);
  if (r0) log(`killed leftover redis-server (pid ${r0}) of ${dir}`);
  if (p0) log(`killed leftover postmaster (pid ${p0}) of ${dir}`);
  rmSync(dir, { recursive: true, force: true });
}

/** Removes `<root>/.local/test-<pid>/` folders whose process is gone (a crashed parallel run). */
export async function cleanStaleTestDirs(root: string, log: LogFn): Promise<void> {
  const localDir = join(resolve(root), ".local");
  let names: string[];
  try {
    names = readdirSync(localDir);
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^test-(\d+)$/.exec(name);
    if (!m || Number(m[1]) === process.pid || pidAlive(Number(m[1]))) continue;
    await wipeTestDir(join(localDir, name), log);
    rmSync(join(localDir, `${name}.pid`), { force: true });
  }
}
