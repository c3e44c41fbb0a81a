import { execFileSync } from "node:child_process";
import { dirname, relative, resolve } from "node:path";
import { ROOT, WORKERS } from "./workers.ts";

/**
 * Generates each worker's `Env` typing with `wrangler types`, or with `--check` verifies that the
 * committed typings still match the wrangler configs (run by `npm test`).
 */
const check = process.argv.includes("--check");
let stale = false;
for (const w of WORKERS) {
  const dir = w.name === "gateway" ? resolve(ROOT, "workers/gateway") : dirname(w.config);
  const out = relative(ROOT, resolve(dir, "worker-configuration.d.ts"));
  const args = ["types", out, "-c", relative(ROOT, w.config), "--strict-vars=false", ...(check ? ["--check"] : [])];
  try {
    execFileSync(resolve(ROOT, "node_modules/.bin/wrangler"), args, {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
    });
    console.log(`types: ${out} ${check ? "is up to date" : "written"}`);
  } catch {
    stale = true;
    console.error(`types: ${out} does not match ${relative(ROOT, w.config)}; run \`npm run types\` and commit the result`);
  }
}
if (stale) process.exit(1);
