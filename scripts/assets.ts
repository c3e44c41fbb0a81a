import { copyFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, relative, resolve } from "node:path";
import { ROOT } from "./workers.ts";

/** Third-party browser files the gateway serves from its static assets, copied from node_modules (git-ignored). */
const VENDOR = [{ from: "swagger-ui-dist", files: ["swagger-ui-bundle.js", "swagger-ui.css"], to: "swagger-ui" }];

/** Where the gateway's static assets live (`[assets] directory` in wrangler.toml). */
export const GATEWAY_ASSETS = resolve(ROOT, "workers/gateway/public");

/** Copies the vendored browser files into the gateway's assets, so /docs works offline. */
export function copyVendorAssets(): void {
  const require = createRequire(resolve(ROOT, "workers/gateway/package.json"));
  for (const pkg of VENDOR) {
    const source = dirname(require.resolve(`${pkg.from}/package.json`));
    const target = resolve(GATEWAY_ASSETS, "vendor", pkg.to);
    mkdirSync(target, { recursive: true });
    for (const file of pkg.files) copyFileSync(resolve(source, file), resolve(target, file));
    console.log(`assets: ${pkg.from} → ${relative(ROOT, target)}/`);
  }
}
