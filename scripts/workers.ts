import { existsSync, readdirSync } from "node:fs";
import { resolve } from "node:path";

/** Repository root (scripts/ is one level below it). */
export const ROOT = resolve(import.meta.dirname, "..");

/** A deployable worker: where its wrangler config lives and where its bundle is written. */
export interface WorkerConfig {
  name: string;
  config: string;
}

/**
 * Every worker in deployment order: the services in workers/<name>/ (each with its own wrangler.toml)
 * first, the gateway (which binds them; its config is the top-level wrangler.toml) last.
 */
export const WORKERS: WorkerConfig[] = [
  ...readdirSync(resolve(ROOT, "workers"), { withFileTypes: true })
    .filter((d) => d.isDirectory() && d.name !== "gateway" && existsSync(resolve(ROOT, "workers", d.name, "wrangler.toml")))
    .map((d) => ({ name: d.name, config: resolve(ROOT, "workers", d.name, "wrangler.toml") }))
    .sort((a, b) => a.name.localeCompare(b.name)),
  { name: "gateway", config: resolve(ROOT, "wrangler.toml") },
];
