/**
 * CPU time per thread of a child process, from Linux's /proc: tells a server that saturates one thread from
 * one that is waiting, when its throughput stops growing. Elsewhere every function answers "unknown" (empty).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";

/** Clock ticks per second of /proc's CPU times (`getconf CLK_TCK`; 100 on every Linux build that matters). */
const TICKS_PER_SECOND = 100;

/** CPU time a thread has used so far. */
export interface ThreadTime {
  tid: number;
  name: string;
  /** User plus system time, in seconds. */
  cpuSec: number;
}

/** `pid`, `comm`, `ppid` and user + system time of a `/proc/…/stat` line; undefined when it is not one. */
export function parseProcStat(line: string): { pid: number; name: string; ppid: number; cpuSec: number } | undefined {
  const open = line.indexOf("(");
  const close = line.lastIndexOf(")");
  if (open < 0 || close < open) return undefined;
  // After the name: state, ppid, pgrp, session, tty_nr, tpgid, flags, minflt, cminflt, majflt, cmajflt, utime, stime.
  const fields = line
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  const [ppid, utime, stime] = [fields[1], fields[11], fields[12]].map(Number);
  const pid = Number(line.slice(0, open).trim());
  if (![pid, ppid, utime, stime].every((n) => Number.isInteger(n))) return undefined;
  return {
    pid,
    name: line.slice(open + 1, close),
    ppid: ppid as number,
    cpuSec: ((utime as number) + (stime as number)) / TICKS_PER_SECOND,
  };
}

function readStat(path: string): ReturnType<typeof parseProcStat> {
  try {
    return parseProcStat(readFileSync(path, "utf8"));
  } catch {
    return undefined; // the process or thread ended meanwhile
  }
}

/**
 * The process ids of this process's children named `name` (e.g. the `workerd` Miniflare started).
 * @example childProcesses("workerd") // [12345]
 */
export function childProcesses(name: string, parent = process.pid): number[] {
  if (!existsSync("/proc")) return [];
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .map((entry) => readStat(`/proc/${entry}/stat`))
    .filter((s) => s !== undefined && s.ppid === parent && s.name === name)
    .map((s) => (s as NonNullable<typeof s>).pid);
}

/** The CPU time each thread of `pid` has used so far. */
export function threadTimes(pid: number): ThreadTime[] {
  const dir = `/proc/${pid}/task`;
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((tid) => {
    const s = readStat(`${dir}/${tid}/stat`);
    return s ? [{ tid: s.pid, name: s.name, cpuSec: s.cpuSec }] : [];
  });
}

/** A thread's share of one core between two {@link threadTimes} samples taken `seconds` apart (1 = a whole core). */
export interface ThreadLoad {
  tid: number;
  name: string;
  share: number;
}

/**
 * Each thread's share of a core between two samples, busiest first.
 * @example threadLoad(before, threadTimes(pid), 5)[0]?.share // 0.98: one thread kept a core busy
 */
export function threadLoad(before: readonly ThreadTime[], after: readonly ThreadTime[], seconds: number): ThreadLoad[] {
  const start = new Map(before.map((t) => [t.tid, t.cpuSec]));
  return after
    .map((t) => ({ tid: t.tid, name: t.name, share: (t.cpuSec - (start.get(t.tid) ?? 0)) / seconds }))
    .sort((a, b) => b.share - a.share);
}
