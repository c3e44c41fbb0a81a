import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { existsSync, openSync, closeSync, readdirSync, readFileSync, statSync } from "node:fs";
import { readFile } from "node:fs/promises";

/** Logger used across the package: one progress line per call. */
export type LogFn = (line: string) => void;

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Seconds since `t0` formatted like "0.4 s". */
export function elapsed(t0: number): string {
  return `${((performance.now() - t0) / 1000).toFixed(1)} s`;
}

let setprivPath: string | null | undefined;
/** `setpriv` (util-linux) lets a child ask the kernel for a signal when its parent dies. */
export function findSetpriv(): string | null {
  if (setprivPath !== undefined) return setprivPath;
  setprivPath = null;
  if (process.platform === "linux") {
    for (const p of ["/usr/bin/setpriv", "/bin/setpriv", "/usr/sbin/setpriv"]) {
      if (existsSync(p)) {
        setprivPath = p;
        break;
      }
    }
  }
  return setprivPath;
}

/** How to spawn a server child process. */
export interface ServerSpawn {
  command: string;
  args: string[];
  /** File receiving stdout and stderr (appended). */
  logFile: string;
  /** Signal the kernel sends the child when this Node process dies (needs setpriv). */
  parentDeathSignal: "TERM" | "INT" | "KILL";
  /** Run as this OS user (setpriv --reuid/--regid), only meaningful as root. */
  runAs?: { uid: number; gid: number } | undefined;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/**
 * Spawns a long-running server as a direct child (no daemonizing), in its own process group so a
 * terminal Ctrl-C reaches only Node (which then stops it in order), with stdout/stderr appended to
 * a log file, and with PR_SET_PDEATHSIG via setpriv so it does not outlive a crashed parent.
 * The handle is unref'd: a forgotten stop() does not keep Node alive, and the kernel signal then
 * takes the server down.
 */
export function spawnServer(s: ServerSpawn): ChildProcess {
  const setpriv = findSetpriv();
  let command = s.command;
  let args = s.args;
  if (setpriv) {
    const pre = ["--pdeathsig", s.parentDeathSignal];
    if (s.runAs) pre.push(`--reuid=${s.runAs.uid}`, `--regid=${s.runAs.gid}`, "--init-groups");
    args = [...pre, "--", command, ...args];
    command = setpriv;
  } else if (s.runAs) {
    args = ["-u", uidName(s.runAs.uid), "--", command, ...args];
    command = "runuser";
  }
  const fd = openSync(s.logFile, "a");
  try {
    const opts: SpawnOptions = {
      stdio: ["ignore", fd, fd],
      detached: true,
      env: s.env ?? process.env,
      cwd: s.cwd ?? "/",
    };
    const child = spawn(command, args, opts);
    child.unref();
    return child;
  } finally {
    closeSync(fd);
  }
}

function uidName(uid: number): string {
  for (const line of readFileSync("/etc/passwd", "utf8").split("\n")) {
    const f = line.split(":");
    if (f[2] === String(uid)) return f[0]!;
  }
  return String(uid);
}

/** Resolves with the exit code/signal once the child has exited (immediately if it already has). */
export function waitForExit(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
}

/** Sends `signal`, waits up to `graceMs`, then SIGKILLs and waits again. */
export async function terminate(child: ChildProcess, signal: NodeJS.Signals, graceMs: number): Promise<void> {
  const exited = waitForExit(child);
  if (child.exitCode !== null || child.signalCode !== null) return;
  try {
    child.kill(signal);
  } catch {
    /* already gone */
  }
  const timer = setTimeout(() => {
    try {
      child.kill("SIGKILL");
    } catch {
      /* already gone */
    }
  }, graceMs);
  try {
    await exited;
  } finally {
    clearTimeout(timer);
  }
}

/** True while `pid` exists and is not a zombie (an exited child nobody reaped still answers kill 0). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return process.platform !== "linux";
  }
}

/** The state letter of a process in /proc (`R`, `S`, `T` for stopped, ...), undefined when it is gone. */
function processState(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
  } catch {
    return undefined;
  }
}

/** The pids whose parent is `ppid` (Linux /proc). */
export function childPids(ppid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // The command name in parentheses may contain spaces: the fields after it are ") state ppid ...".
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === ppid) out.push(Number(entry));
    } catch {
      // The process ended while the folder was being read.
    }
  }
  return out;
}

/**
 * Freezes (SIGSTOP) or thaws (SIGCONT) processes and resolves once the kernel shows each in that state, so a
 * caller told "paused" can rely on it. A frozen server keeps its sockets: the kernel still accepts connections
 * and buffers requests, and nothing answers them, which is what a hung dependency looks like to its clients.
 */
export async function freeze(pids: readonly number[], frozen: boolean): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, frozen ? "SIGSTOP" : "SIGCONT");
    } catch {
      // Gone: nothing to freeze or thaw.
    }
  }
  const deadline = Date.now() + 2000;
  const settled = (pid: number) => {
    const state = processState(pid);
    return state === undefined || (state === "T") === frozen;
  };
  while (!pids.every(settled)) {
    if (Date.now() > deadline) throw new Error(`processes ${pids.join(", ")} did not ${frozen ? "stop" : "continue"} within 2 s`);
    await sleep(5);
  }
}

/** Command line of a live process (Linux /proc), "" when unknown. */
export function processCommandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ").trim();
  } catch {
    return "";
  }
}

/**
 * Kills a leftover server recorded in a pid file (first line = pid) when the process is alive and its
 * command line contains `expect` (guards against pid reuse). Returns the pid killed, if any.
 */
export async function killFromPidFile(
  pidFile: string,
  expect: string,
  signal: NodeJS.Signals,
  graceMs: number,
): Promise<number | undefined> {
  let pid: number;
  try {
    pid = Number.parseInt(readFileSync(pidFile, "utf8").split("\n")[0]!.trim(), 10);
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 1 || pid === process.pid || !pidAlive(pid)) return undefined;
  if (!processCommandLine(pid).includes(expect)) return undefined;
  try {
    process.kill(pid, signal);
  } catch {
    return undefined;
  }
  const deadline = Date.now() + graceMs;
  while (pidAlive(pid) && Date.now() < deadline) await sleep(50);
  if (pidAlive(pid)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* gone */
    }
    const hard = Date.now() + 5000;
    while (pidAlive(pid) && Date.now() < hard) await sleep(50);
  }
  return pid;
}

/** Last `n` non-empty lines of a log file, for error messages. */
export async function tailFile(path: string, n = 20): Promise<string> {
  try {
    const size = statSync(path).size;
    const text = await readFile(path, "utf8");
    const body = size > 65536 ? text.slice(-65536) : text;
    return body
      .split("\n")
      .filter((l) => l.trim() !== "")
      .slice(-n)
      .join("\n");
  } catch {
    return "(no log)";
  }
}

/** Runs a command to completion, collecting output; rejects with the output on non-zero exit. */
export function run(
  command: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string; onLine?: (line: string) => void } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"], env: opts.env ?? process.env, cwd: opts.cwd ?? "/" });
    let out = "";
    let partial = "";
    const onData = (d: Buffer) => {
      const s = d.toString("utf8");
      out += s;
      if (out.length > 1 << 20) out = out.slice(-(1 << 19));
      if (opts.onLine) {
        partial += s;
        const lines = partial.split("\n");
        partial = lines.pop() ?? "";
        for (const l of lines) if (l.trim()) opts.onLine(l);
      }
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.once("error", (e) => reject(new Error(`${command} could not be started: ${e.message}`)));
    child.once("close", (code, signal) => {
      if (opts.onLine && partial.trim()) opts.onLine(partial);
      if (code === 0) resolve(out);
      else {
        const tail = out.trim().split("\n").slice(-20).join("\n");
        reject(new Error(`${command} ${args.join(" ")} failed (${signal ?? `exit ${code}`}):\n${tail}`));
      }
    });
  });
}
