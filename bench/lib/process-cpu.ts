/** CPU time of processes the bench started, read from /proc (Linux): what Cloudflare bills besides the request count. */
import { readdirSync, readFileSync } from "node:fs";

/** Clock ticks per second of `/proc/<pid>/stat` (`getconf CLK_TCK`; 100 on every Linux the bench runs on). */
const TICKS_PER_SECOND = 100;

/**
 * CPU seconds (user + system, all threads) a process has used so far.
 * @example const before = cpuSeconds(pid); await load(); const used = cpuSeconds(pid) - before;
 */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/**
 * The pids of this process's children whose command is `command` (e.g. the workerd each Miniflare starts).
 * @example childPids("workerd")
 */
export function childPids(command: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === process.pid && comm === command) pids.push(Number(entry));
    } catch {
      // The process ended between listing /proc and reading its stat.
    }
  }
  return pids;
}
