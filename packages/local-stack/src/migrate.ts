import { existsSync } from "node:fs";
import { join } from "node:path";
import pg from "pg";
import { drizzle } from "drizzle-orm/node-postgres";
import { migrate } from "drizzle-orm/node-postgres/migrator";
import { elapsed, type LogFn } from "./process.ts";

/** The database to migrate and the drizzle-kit folder to apply. */
export interface MigrateOptions {
  databaseUrl: string;
  /** drizzle-kit output folder (with meta/_journal.json). */
  migrationsDir: string;
  log?: LogFn;
}

/** Whether migrations were applied (how many of how many), or why they were skipped. */
export type MigrateResult = { status: "skipped"; reason: string } | { status: "applied"; applied: number; total: number };

/** True when `dir` looks like drizzle-kit output (has meta/_journal.json). */
export function hasJournal(dir: string): boolean {
  return existsSync(join(dir, "meta", "_journal.json"));
}

async function countApplied(client: pg.Client): Promise<number> {
  try {
    const r = await client.query<{ n: string }>("select count(*)::text as n from drizzle.__drizzle_migrations");
    return Number(r.rows[0]?.n ?? 0);
  } catch {
    return 0;
  }
}

/**
 * Applies drizzle-kit migrations with drizzle-orm's node-postgres migrator (tracking table
 * drizzle.__drizzle_migrations, so already applied ones are skipped). A folder without a journal
 * is skipped with a log line.
 */
export async function applyMigrations(opts: MigrateOptions): Promise<MigrateResult> {
  const log = opts.log ?? (() => {});
  if (!hasJournal(opts.migrationsDir)) {
    const reason = `no ${join(opts.migrationsDir, "meta", "_journal.json")} yet`;
    log(`migrations skipped: ${reason}`);
    return { status: "skipped", reason };
  }
  const t0 = performance.now();
  const client = new pg.Client({ connectionString: opts.databaseUrl });
  client.on("error", () => {});
  await client.connect();
  try {
    // Silence NOTICEs such as "schema drizzle already exists, skipping".
    await client.query("set client_min_messages = warning");
    const before = await countApplied(client);
    try {
      await migrate(drizzle(client), { migrationsFolder: opts.migrationsDir });
    } catch (e) {
      const err = e as Error & { cause?: Error };
      throw new Error(`migrations in ${opts.migrationsDir} failed: ${err.cause?.message ?? err.message}`, { cause: e });
    }
    const total = await countApplied(client);
    log(`migrations: ${total - before} applied, ${total} total from ${opts.migrationsDir} (${elapsed(t0)})`);
    return { status: "applied", applied: total - before, total };
  } finally {
    await client.end().catch(() => {});
  }
}
