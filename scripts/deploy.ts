import { relative } from "node:path";
import { parseArgs } from "node:util";
import { copyVendorAssets } from "./assets.ts";
import { ROOT, WORKERS, type WorkerConfig } from "./workers.ts";
import {
  deploy,
  deployedSecrets,
  dryRunDeploy,
  ENVIRONMENTS,
  missingSecrets,
  requiredSecrets,
  WranglerError,
  type Environment,
} from "./wrangler.ts";

/**
 * `npm run deploy -- --env staging|production [--dry-run]`: deploys every worker with `wrangler deploy` in
 * dependency order (services first, the gateway that binds them last), after checking that each one's required
 * secrets are set. `--dry-run` bundles them offline into dist/<env>/<name>/ instead and needs no account.
 */
const USAGE = `usage: npm run deploy -- --env ${ENVIRONMENTS.join("|")} [--dry-run]`;
const log = (line: string) => console.log(`deploy: ${line}`);
const configOf = (w: WorkerConfig) => relative(ROOT, w.config);

/** The command line, or exit 2 with the usage. */
function options(): { env: Environment; dryRun: boolean } {
  try {
    const { values } = parseArgs({ options: { env: { type: "string" }, "dry-run": { type: "boolean", default: false } } });
    const env = ENVIRONMENTS.find((e) => e === values.env);
    if (!env) throw new Error(values.env === undefined ? "--env is required" : `unknown environment "${values.env}"`);
    return { env, dryRun: values["dry-run"] };
  } catch (err) {
    console.error(`deploy: ${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}

/** Prints the plan: each worker in order with the secrets it needs. */
function printPlan(env: Environment, dryRun: boolean): void {
  log(`${dryRun ? "dry run (bundles only, nothing is uploaded)" : "deploying"} to ${env}, in this order:`);
  for (const [i, w] of WORKERS.entries()) {
    const secrets = requiredSecrets(w, env);
    log(`  ${i + 1}. ${w.name} (${configOf(w)}); secrets: ${secrets.join(", ") || "none"}`);
  }
}

/** Checks every worker's required secrets with `wrangler secret list`; prints how to set the missing ones. */
async function secretsAreSet(env: Environment): Promise<boolean> {
  let ok = true;
  for (const w of WORKERS) {
    const missing = missingSecrets(requiredSecrets(w, env), await deployedSecrets(w, env));
    if (missing.length === 0) continue;
    ok = false;
    log(`${w.name} is missing secrets; set them with:`);
    for (const name of missing) log(`  npx wrangler secret put ${name} -c ${configOf(w)} --env ${env}`);
  }
  return ok;
}

/** Deploys (or bundles) one worker; returns what happened, for the progress line. */
async function deployOne(w: WorkerConfig, env: Environment, dryRun: boolean): Promise<string> {
  if (dryRun) return `bundled into ${relative(ROOT, await dryRunDeploy(w, env))}/`;
  const output = await deploy(w, env);
  return `deployed:\n${output.trim().replace(/^/gm, "    ")}`;
}

/** Deploys (or bundles) each worker in order; stops at the first failure and says what is already deployed. */
async function deployAll(env: Environment, dryRun: boolean): Promise<boolean> {
  for (const [i, w] of WORKERS.entries()) {
    const started = Date.now();
    const step = `[${i + 1}/${WORKERS.length}] ${w.name}`;
    log(`${step} …`);
    try {
      const done = await deployOne(w, env, dryRun);
      log(`${step} ${done} (${Date.now() - started} ms)`);
    } catch (err) {
      console.error(`deploy: ${w.name} failed: ${(err as Error).message}`);
      if (!dryRun) {
        const names = (list: WorkerConfig[]) => list.map((x) => x.name).join(", ") || "none";
        console.error(`deploy: already deployed: ${names(WORKERS.slice(0, i))}; not deployed: ${names(WORKERS.slice(i))}`);
      }
      return false;
    }
  }
  return true;
}

async function main(): Promise<number> {
  const { env, dryRun } = options();
  copyVendorAssets();
  printPlan(env, dryRun);
  if (!dryRun && !(await secretsAreSet(env))) {
    console.error("deploy: stopped before deploying anything: set the missing secrets first");
    return 1;
  }
  if (!(await deployAll(env, dryRun))) return 1;
  log(dryRun ? `dry run of ${env} passed` : `deployed every worker to ${env}`);
  return 0;
}

process.exit(
  await main().catch((err: unknown) => {
    console.error(`deploy: ${err instanceof WranglerError ? err.message : (err as Error).stack}`);
    return 1;
  }),
);
