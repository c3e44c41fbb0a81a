import { existsSync } from "node:fs";
import { relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { configProblems } from "@foundation/core";
import { ServiceVars } from "@foundation/service-kit/config";
import { unstable_readConfig } from "wrangler";
import type { z } from "zod";
import { ENVIRONMENTS } from "./wrangler.ts";
import { ROOT, WORKERS, type WorkerConfig } from "./workers.ts";

/**
 * `npm run config:check` (part of `npm run check`): parses the `[vars]` of every environment (local, staging,
 * production) of every worker's wrangler config with the schema the worker parses them with at run time:
 * `Vars` from `workers/<name>/src/config.ts`, or the service kit's `ServiceVars` for a worker without one.
 * A malformed var fails the check with its name and what is wrong, instead of failing requests after a deploy.
 */
async function schemaOf(worker: WorkerConfig): Promise<z.ZodType> {
  const file = resolve(ROOT, "workers", worker.name, "src/config.ts");
  if (!existsSync(file)) return ServiceVars;
  const mod = (await import(pathToFileURL(file).href)) as { Vars?: z.ZodType };
  if (!mod.Vars) throw new Error(`${relative(ROOT, file)} exports no \`Vars\` schema`);
  return mod.Vars;
}

/**
 * The problems of every environment's `[vars]` in a worker's wrangler config, each as `worker (env, file): VAR: what`.
 * @example await varProblems({ name: "gateway", config: "wrangler.toml" }) // []
 */
export async function varProblems(
  worker: WorkerConfig,
  environments: readonly (string | undefined)[] = [undefined, ...ENVIRONMENTS],
): Promise<string[]> {
  const schema = await schemaOf(worker);
  const problems: string[] = [];
  for (const env of environments) {
    const { vars } = unstable_readConfig({ config: worker.config, env }, { hideWarnings: true }) as unknown as {
      vars: Record<string, unknown>;
    };
    const parsed = schema.safeParse(vars);
    if (!parsed.success) {
      const where = `${worker.name} (${env ?? "local"}, ${relative(ROOT, worker.config)})`;
      problems.push(...configProblems(parsed.error).map((p) => `${where}: ${p}`));
    }
  }
  return problems;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  let failed = false;
  for (const worker of WORKERS) {
    const problems = await varProblems(worker);
    for (const problem of problems) console.error(`config: ${problem}`);
    if (problems.length > 0) failed = true;
    else console.log(`config: ${worker.name}: the vars of every environment are valid`);
  }
  if (failed) process.exit(1);
}
