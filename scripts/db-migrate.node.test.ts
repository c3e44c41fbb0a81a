import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import { promisify } from "node:util";
import { startLocalStack, type LocalStack } from "@foundation/local-stack";
import pg from "pg";
import { ROOT } from "./workers.ts";

const run = promisify(execFile);
const migrate = (databaseUrl: string) =>
  run(resolve(ROOT, "node_modules/.bin/drizzle-kit"), ["migrate"], { cwd: ROOT, env: { ...process.env, DATABASE_URL: databaseUrl } });

async function tables(databaseUrl: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const r = await client.query<{ name: string }>(
      "select table_name as name from information_schema.tables where table_schema = 'public'",
    );
    return r.rows.map((row) => row.name).sort();
  } finally {
    await client.end();
  }
}

// `npm run db:migrate` is how a Neon database gets its schema (README, Deployment). Neon speaks the PostgreSQL
// protocol, so the check runs drizzle-kit against a real, empty PostgreSQL: the stack here applies no migrations.
describe("npm run db:migrate", () => {
  let stack: LocalStack;
  let root: string;
  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), "foundation-migrate-"));
    stack = await startLocalStack({ root, profile: "test", migrationsDir: join(root, "no-migrations"), log: () => {} });
  });
  afterAll(async () => {
    await stack?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it("creates every table of the schema in an empty database, and changes nothing when run again", { timeout: 120_000 }, async () => {
    const url = stack.postgres.databaseUrl;
    assert.deepEqual(await tables(url), []);
    await migrate(url);
    const created = await tables(url);
    for (const t of ["api_keys", "events", "health_checks", "instance_status_changes", "service_instances", "subscriptions"])
      assert.ok(created.includes(t), `${t} in ${created.join(", ")}`);
    await migrate(url);
    assert.deepEqual(await tables(url), created);
  });
});
