/**
 * tsx packages/local-stack/src/cli.ts up [--profile dev|test] [--root DIR]
 *
 * Starts the local stack, prints one line per service and a final `ready`, writes StackInfo JSON to
 * `<root>/.local/<profile>/stack.json`, and on SIGINT/SIGTERM stops everything and exits 0.
 * Ports: env REDIS_PORT, POSTGRES_PORT, VECTOR_PORT, UPSTASH_PORT, NEON_PORT, CONTROL_PORT; otherwise dev uses
 * 6390, 5440, 8076, 8079, 8078, 8077 and test picks free ports. Tokens: env UPSTASH_TOKEN / CONTROL_TOKEN,
 * otherwise random (dev: random once, then kept in `.local/dev/tokens.json`).
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { startLocalStack, stackInfo, type LocalStack, type ServiceName, type StackInfo } from "./index.ts";

/** The dev profile's fixed ports, which the README and the workers' local settings name. */
export const DEV_PORTS: Record<ServiceName, number> = {
  redis: 6390,
  postgres: 5440,
  vector: 8076,
  upstash: 8079,
  neon: 8078,
  control: 8077,
};
const PORT_ENV: Record<ServiceName, string> = {
  redis: "REDIS_PORT",
  postgres: "POSTGRES_PORT",
  vector: "VECTOR_PORT",
  upstash: "UPSTASH_PORT",
  neon: "NEON_PORT",
  control: "CONTROL_PORT",
};

/** Ports from the environment, else the profile's defaults (dev: fixed; test: 0 = free port). */
export function portsFromEnv(profile: "dev" | "test", env: NodeJS.ProcessEnv = process.env): Record<ServiceName, number> {
  const out = {} as Record<ServiceName, number>;
  for (const name of Object.keys(PORT_ENV) as ServiceName[]) {
    const raw = env[PORT_ENV[name]];
    if (raw !== undefined && raw !== "") {
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 0 || n > 65535) throw new Error(`${PORT_ENV[name]}=${raw} is not a port number`);
      out[name] = n;
    } else {
      out[name] = profile === "dev" ? DEV_PORTS[name] : 0;
    }
  }
  return out;
}

/** Walks up from `from` to the folder whose package.json declares workspaces (the repository root). */
export function findRepoRoot(from: string = dirname(fileURLToPath(import.meta.url))): string {
  let dir = resolve(from);
  for (;;) {
    const pj = join(dir, "package.json");
    if (existsSync(pj)) {
      try {
        if ((JSON.parse(readFileSync(pj, "utf8")) as { workspaces?: unknown }).workspaces) return dir;
      } catch {
        /* keep looking */
      }
    }
    const parent = dirname(dir);
    if (parent === dir) return resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
    dir = parent;
  }
}

/** What `up()` starts and where it prints. */
export interface UpOptions {
  profile: "dev" | "test";
  root?: string;
  env?: NodeJS.ProcessEnv;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
  /** Service lines and `ready` (default: stdout). */
  print?: (line: string) => void;
}

/** The running stack, its StackInfo and stack.json, and how to stop both. */
export interface UpResult {
  stack: LocalStack;
  info: StackInfo;
  /** `<root>/.local/<profile>/stack.json` (removed again by `stop()`). */
  stackJsonPath: string;
  /** Stops the stack and removes stack.json. */
  stop(): Promise<void>;
}

/** What `cli.ts up` does, minus signal handling: start, print, write stack.json. */
export async function up(opts: UpOptions): Promise<UpResult> {
  const env = opts.env ?? process.env;
  const root = resolve(opts.root ?? findRepoRoot());
  const print = opts.print ?? ((l: string) => process.stdout.write(`${l}\n`));
  const log = opts.log ?? ((l: string) => process.stderr.write(`[local-stack] ${l}\n`));
  const stack = await startLocalStack({
    root,
    profile: opts.profile,
    ports: portsFromEnv(opts.profile, env),
    ...(env.UPSTASH_TOKEN ? { upstashToken: env.UPSTASH_TOKEN } : {}),
    ...(env.CONTROL_TOKEN ? { controlToken: env.CONTROL_TOKEN } : {}),
    log,
  });
  const info = stackInfo(stack);
  const stackJsonPath = join(stack.dataDir, "stack.json");
  writeFileSync(stackJsonPath, JSON.stringify(info, null, 2) + "\n", { mode: 0o600 });
  print(`redis     ${info.redisUrl}`);
  print(`postgres  ${info.databaseUrl}`);
  print(`upstash   ${info.upstashUrl}  token ${info.upstashToken}`);
  print(`neon      ${info.neonHttpEndpoint}  ws ${info.neonWsProxy}`);
  print(`vectors   ${info.vectorDatabaseUrl}`);
  print(`control   ${info.controlUrl}  token ${info.controlToken}`);
  print(`stack.json ${stackJsonPath}`);
  print("ready");
  let stopping: Promise<void> | undefined;
  return {
    stack,
    info,
    stackJsonPath,
    stop: () =>
      (stopping ??= (async () => {
        rmSync(stackJsonPath, { force: true });
        await stack.stop();
      })()),
  };
}

const USAGE = "usage: tsx packages/local-stack/src/cli.ts up [--profile dev|test] [--root DIR]";

/** The command and the flags of `cli.ts`'s arguments; throws naming the bad argument, with the usage. */
export function parseCommandLine(argv: string[]): { command: string; profile: "dev" | "test"; root?: string } {
  const [command = "", ...rest] = argv;
  // Not strict, with tokens: every error can then name the argument as it was typed (`--root=x`, `-p`, `--`).
  const { tokens } = parseArgs({
    args: rest,
    options: { profile: { type: "string" }, root: { type: "string" } },
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  let profile: "dev" | "test" = "dev";
  let root: string | undefined;
  for (const token of tokens) {
    const given = rest[token.index]!;
    if (token.kind !== "option" || (token.name !== "profile" && token.name !== "root"))
      throw new Error(`unknown argument ${given}\n${USAGE}`);
    if (token.value === undefined) throw new Error(`${given} needs a value\n${USAGE}`);
    if (token.name === "root") root = token.value;
    else if (token.value === "dev" || token.value === "test") profile = token.value;
    else throw new Error(`--profile must be dev or test, got ${token.value}\n${USAGE}`);
  }
  return root === undefined ? { command, profile } : { command, profile, root };
}

/** CLI entry: `up` runs until SIGINT/SIGTERM, then stops everything and exits 0. */
export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  let args: ReturnType<typeof parseCommandLine>;
  try {
    args = parseCommandLine(argv);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    process.exit(2);
  }
  if (args.command !== "up") {
    process.stderr.write(`${USAGE}\n`);
    process.exit(args.command === "" || args.command === "--help" || args.command === "help" ? 0 : 2);
  }
  let result: UpResult;
  // Signals during startup: remember them and stop as soon as the stack is up (or failed).
  let signalled: NodeJS.Signals | undefined;
  const early = (sig: NodeJS.Signals) => (signalled = sig);
  process.on("SIGINT", early).on("SIGTERM", early).on("SIGHUP", early);
  try {
    result = await up(args.root === undefined ? { profile: args.profile } : { profile: args.profile, root: args.root });
  } catch (e) {
    process.stderr.write(`local stack failed to start: ${(e as Error).message}\n`);
    process.exit(1);
  }
  process.off("SIGINT", early).off("SIGTERM", early).off("SIGHUP", early);
  let count = 0;
  const shutdown = (sig: NodeJS.Signals) => {
    if (++count > 1) {
      process.stderr.write(`[local-stack] ${sig} again: exiting now\n`);
      process.exit(1);
    }
    process.stderr.write(`[local-stack] ${sig}: stopping\n`);
    result.stop().then(
      () => process.exit(0),
      (e: Error) => {
        process.stderr.write(`[local-stack] stop failed: ${e.message}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", shutdown).on("SIGTERM", shutdown).on("SIGHUP", shutdown);
  if (signalled) shutdown(signalled);
  // Keep the process alive while the stack runs (servers are unref'd children).
  setInterval(() => {}, 1 << 30);
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (invokedDirectly) void main();
