import { relative } from "node:path";
import { copyVendorAssets } from "./assets.ts";
import { dryRunDeploy } from "./wrangler.ts";
import { ROOT, WORKERS } from "./workers.ts";

/** Bundles every worker offline with `wrangler deploy --dry-run` into dist/<name>/, after copying the vendored assets. */
copyVendorAssets();
for (const w of WORKERS) {
  const started = Date.now();
  try {
    const outdir = await dryRunDeploy(w);
    console.log(`build: ${w.name} → ${relative(ROOT, outdir)}/index.js (${Date.now() - started} ms)`);
  } catch (err) {
    console.error(`build: ${w.name} failed\n${(err as Error).message}`);
    process.exit(1);
  }
}
