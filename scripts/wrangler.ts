import { execFile } from "node:child_process";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { unstable_readConfig } from "wrangler";
import { ROOT, type WorkerConfig } from "./workers.ts";

const run = promisify(execFile);

/** The environments of the wrangler configs (`[env.<name>]`); without one, wrangler uses the local top level. */
export const ENVIRONMENTS = ["staging", "production"] as const;

/** A deployed environment. */
export type Environment = (typeof ENVIRONMENTS)[number];

/** A wrangler command that failed, with everything it printed. */
export class WranglerError extends Error {
  constructor(
    readonly args: readonly string[],
    readonly output: string,
  ) {
    super(`wrangler ${args.join(" ")} failed:\n${output.trim()}`);
    this.name = "WranglerError";
  }
}

/**
 * Runs the repository's wrangler with `args` from the root, without telemetry; resolves to its stdout,
 * throws a {@link WranglerError} carrying stdout and stderr when it fails.
 * @example await runWrangler(["secret", "list", "-c", "wrangler.toml"]);
 */
export async function runWrangler(args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await run(resolve(ROOT, "node_modules/.bin/wrangler"), args, {
      cwd: ROOT,
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
    });
    return stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new WranglerError(args, `${e.stdout ?? ""}${e.stderr ?? ""}` || e.message);
  }
}

const envArgs = (env: Environment | undefined) => (env ? ["--env", env] : []);

/** Where `npm run build` and `npm run deploy -- --dry-run` write a worker's bundle: `dist/<name>/` (local) or `dist/<env>/<name>/`. */
export function bundleDir(worker: WorkerConfig, env?: Environment): string {
  return env ? resolve(ROOT, "dist", env, worker.name) : resolve(ROOT, "dist", worker.name);
}

/**
 * Bundles a worker offline as `wrangler deploy --dry-run` would deploy it, into {@link bundleDir}.
 * @example await dryRunDeploy(WORKERS[0], "staging");
 */
export async function dryRunDeploy(worker: WorkerConfig, env?: Environment): Promise<string> {
  const outdir = bundleDir(worker, env);
  await runWrangler(["deploy", "--dry-run", "--outdir", outdir, "-c", worker.config, ...envArgs(env)]);
  return outdir;
}

/** Deploys a worker to Cloudflare with `wrangler deploy` (needs `CLOUDFLARE_API_TOKEN` or `wrangler login`). */
export async function deploy(worker: WorkerConfig, env: Environment): Promise<string> {
  return runWrangler(["deploy", "-c", worker.config, ...envArgs(env)]);
}

/** The part of a wrangler config read here (wrangler's own `Config` type degrades to an unresolved type in this project). */
interface SecretsSection {
  secrets?: { required?: string[] };
}

/** The secrets a worker declares in `[secrets] required` of its config (of `[env.<env>.secrets]` for an environment). */
export function requiredSecrets(worker: WorkerConfig, env?: Environment): string[] {
  const config = unstable_readConfig({ config: worker.config, env }, { hideWarnings: true }) as unknown as SecretsSection;
  return [...(config.secrets?.required ?? [])].sort();
}

/** The names of the secrets set on a deployed worker, from `wrangler secret list --format json`. */
export async function deployedSecrets(worker: WorkerConfig, env: Environment): Promise<string[]> {
  const stdout = await runWrangler(["secret", "list", "--format", "json", "-c", worker.config, ...envArgs(env)]);
  const listed = JSON.parse(stdout.slice(stdout.indexOf("["))) as { name: string }[];
  return listed.map((s) => s.name);
}

/**
 * The required secrets not in `set`.
 * @example missingSecrets(["A", "B"], ["A"]) // ["B"]
 */
export function missingSecrets(required: readonly string[], set: readonly string[]): string[] {
  const present = new Set(set);
  return required.filter((name) => !present.has(name));
}
