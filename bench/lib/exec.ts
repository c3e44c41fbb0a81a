/** Running the external load generators (wrk, redis-benchmark) with clear errors. */
import { execFile } from "node:child_process";
import { accessSync, constants } from "node:fs";
import { delimiter, join } from "node:path";

/** Options of {@link runTool}. */
export interface RunToolOptions {
  /** Kills the tool when aborted (Ctrl-C). */
  signal?: AbortSignal;
  /** Kills the tool after this long; default 5 minutes. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

const tail = (text: string, lines = 15) => text.trimEnd().split("\n").slice(-lines).join("\n");

/**
 * Runs `command args…` to completion and returns its output; a missing binary, a non-zero exit, a timeout
 * or an abort becomes an Error that shows the command line and the end of its output.
 * @example const { stdout } = await runTool("wrk", ["--latency", url], { signal });
 */
export function runTool(
  command: string,
  args: readonly string[],
  options: RunToolOptions = {},
): Promise<{ stdout: string; stderr: string }> {
  const line = [command, ...args].join(" ");
  return new Promise((resolvePromise, reject) => {
    execFile(
      command,
      args,
      { signal: options.signal, timeout: options.timeoutMs ?? 300_000, maxBuffer: 64 * 1024 * 1024, env: options.env ?? process.env },
      (error, stdout, stderr) => {
        if (!error) {
          resolvePromise({ stdout, stderr });
          return;
        }
        const e = error as NodeJS.ErrnoException & { killed?: boolean; code?: number | string; signal?: string | null };
        let why: string;
        if (e.code === "ENOENT") why = `${command} is not installed (not found on PATH)`;
        else if (e.name === "AbortError") why = "aborted";
        else if (e.killed) why = `killed${e.signal ? ` by ${e.signal}` : ""} (timeout ${options.timeoutMs ?? 300_000} ms)`;
        else why = `exited with ${e.code ?? e.signal ?? "an error"}`;
        const output = tail(`${stdout}\n${stderr}`);
        reject(new Error(`\`${line}\` ${why}${output ? `:\n${output}` : ""}`, { cause: error }));
      },
    );
  });
}

/**
 * The absolute path of an executable on PATH, or undefined.
 * @example findOnPath("wrk") // "/usr/bin/wrk"
 */
export function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}
