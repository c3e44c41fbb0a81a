import { resolve } from "node:path";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { Miniflare } from "miniflare";
import { unstable_getMiniflareWorkerOptions } from "wrangler";
import { ROOT, WORKERS } from "./workers.ts";

/** Options of {@link builtWorkers}. */
export interface BuiltWorkersOptions {
  /** Serve the gateway on this loopback port (default: only `dispatchFetch`). */
  port?: number;
  /** Bindings added to (or overriding) each worker's, by worker name (`gateway`, `example`). */
  bindings?: Record<string, Record<string, string>>;
  /** Receives each line the workers write to stdout or stderr (default: passed through to this process). */
  onOutput?: (line: string) => void;
}

function lines(stream: Readable, onLine: (line: string) => void): void {
  createInterface({ input: stream }).on("line", onLine);
}

/**
 * The built workers (`npm run build` → dist/) in one Miniflare, configured from their wrangler configs,
 * for Node-side checks that need the gateway's responses but no backing services (the OpenAPI document,
 * static assets, /metrics). The caller disposes it.
 */
export function builtWorkers(options: BuiltWorkersOptions = {}): Miniflare {
  const { onOutput } = options;
  return new Miniflare({
    ...(options.port === undefined ? {} : { host: "127.0.0.1", port: options.port }),
    ...(onOutput
      ? { handleRuntimeStdio: (stdout: Readable, stderr: Readable) => [stdout, stderr].forEach((s) => lines(s, onOutput)) }
      : {}),
    workers: WORKERS.map((w) => {
      const { workerOptions } = unstable_getMiniflareWorkerOptions(w.config);
      return {
        ...workerOptions,
        bindings: { ...(workerOptions.bindings as Record<string, unknown> | undefined), ...options.bindings?.[w.name] },
        name: `foundation-${w.name}`,
        modules: true,
        scriptPath: resolve(ROOT, "dist", w.name, "index.js"),
      };
    }).sort((a, b) => Number(b.name === "foundation-gateway") - Number(a.name === "foundation-gateway")),
  });
}

/** The gateway's OpenAPI document, as the built gateway serves it. */
export async function openApiDocument(mf: Miniflare): Promise<Record<string, unknown>> {
  const res = await mf.dispatchFetch("http://gateway.local/openapi.json");
  if (!res.ok) throw new Error(`GET /openapi.json answered ${res.status}`);
  return (await res.json()) as Record<string, unknown>;
}
