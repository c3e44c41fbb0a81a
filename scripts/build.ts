import { execFileSync } from "node:child_process";
import { resolve } from "node:path";
import { copyVendorAssets } from "./assets.ts";
import { ROOT, WORKERS } from "./workers.ts";

/** Bundles every worker offline with `wrangler deploy --dry-run` into dist/<name>/, after copying the vendored assets. */
copyVendorAssets();
for (const w of WORKERS) {
  const outdir = resolve(ROOT, "dist", w.name);
  const started = Date.now();
  try {
    execFileSync(resolve(ROOT, "node_modules/.bin/wrangler"), ["deploy", "--dry-run", "--outdir", outdir, "-c", w.config], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
    });
  } catch (err) {
    const e = err as { stdout?: Buffer; stderr?: Buffer };
    console.error(`build: ${w.name} failed\n${e.stdout?.toString() ?? ""}${e.stderr?.toString() ?? ""}`);
    process.exit(1);
  }
  console.log(`build: ${w.name} → dist/${w.name}/index.js (${Date.now() - started} ms)`);
}
