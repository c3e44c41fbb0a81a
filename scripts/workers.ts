import { resolve } from "node:path";

/** Repository root (scripts/ is one level below it). */
export const ROOT = resolve(import.meta.dirname, "..");

/** A deployable worker: where its wrangler config lives and where its bundle is written. */
export interface WorkerConfig {
  name: string;
  config: string;
}

/**
 * Every worker in deployment order: services first, the gateway (which binds them) last.
 * The gateway's config is the top-level wrangler.toml; the others live in workers/<name>/.
 */
export const WORKERS: WorkerConfig[] = [
  { name: "example", config: resolve(ROOT, "workers/example/wrangler.toml") },
  { name: "gateway", config: resolve(ROOT, "wrangler.toml") },
];
