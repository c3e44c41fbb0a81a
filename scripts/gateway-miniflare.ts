import { resolve } from "node:path";
import { Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { ROOT, WORKERS } from "./workers.ts";

/**
 * The built workers (`npm run build` → dist/) in one Miniflare, configured from their wrangler configs,
 * for Node-side checks that need the gateway's responses but no backing services (the OpenAPI document,
 * static assets). The caller disposes it.
 */
export function builtWorkers(): Miniflare {
  return new Miniflare({
    workers: WORKERS.map((w) => {
      const { workerOptions } = unstable_getMiniflareWorkerOptions(w.config);
      return { ...workerOptions, name: `foundation-${w.name}`, modules: true, scriptPath: resolve(ROOT, "dist", w.name, "index.js") };
    }).sort((a, b) => Number(b.name === "foundation-gateway") - Number(a.name === "foundation-gateway")),
  });
}

/** The gateway's OpenAPI document, as the built gateway serves it. */
export async function openApiDocument(mf: Miniflare): Promise<Record<string, unknown>> {
  const res = await mf.dispatchFetch("http://gateway.local/openapi.json");
  if (!res.ok) throw new Error(`GET /openapi.json answered ${res.status}`);
  return (await res.json()) as Record<string, unknown>;
}
