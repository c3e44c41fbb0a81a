import { existsSync, readdirSync } from "node:fs";
import { resolve } from "node:path";

/** Repository root (scripts/ is one level below it). */
export const ROOT = resolve(import.meta.dirname, "..");

/** A deployable worker: where its wrangler config lives and where its bundle is written. */
export interface WorkerConfig {
  name: string;
  config: string;
}

/** The Tail Worker every other worker names in `tail_consumers`: Cloudflare refuses a tail consumer that does not exist yet. */
const TAIL_CONSUMER = "log-tail";

/**
 * Every worker in deployment order: the log collector first, the services in workers/<name>/ (each with its own
 * wrangler.toml) next, the gateway (which binds them; its config is the top-level wrangler.toml) last.
 */
export const WORKERS: WorkerConfig[] = [
  ...readdirSync(resolve(ROOT, "workers"), { withFileTypes: true })
    .filter((d) => d.isDirectory() && d.name !== "gateway" && existsSync(resolve(ROOT, "workers", d.name, "wrangler.toml")))
    .map((d) => ({ name: d.name, config: resolve(ROOT, "workers", d.name, "wrangler.toml") }))
    .sort((a, b) => Number(b.name === TAIL_CONSUMER) - Number(a.name === TAIL_CONSUMER) || a.name.localeCompare(b.name)),
  { name: "gateway", config: resolve(ROOT, "wrangler.toml") },
];
