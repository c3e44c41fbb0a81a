import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { resolve } from "node:path";
import { describe, it } from "vitest";
import { promisify } from "node:util";
import { ROOT, WORKERS } from "./workers.ts";
import { bundleDir, missingSecrets, requiredSecrets } from "./wrangler.ts";

const run = promisify(execFile);
const deployScript = (args: string[]) => run(resolve(ROOT, "node_modules/.bin/tsx"), ["scripts/deploy.ts", ...args], { cwd: ROOT });

describe("npm run deploy", () => {
  it("dry run for staging bundles every worker in dependency order and lists its secrets", { timeout: 120_000 }, async () => {
    for (const w of WORKERS) rmSync(bundleDir(w, "staging"), { recursive: true, force: true });
    const { stdout } = await deployScript(["--env", "staging", "--dry-run"]);
    const order = WORKERS.map((w) => stdout.indexOf(`] ${w.name} bundled into dist/staging/${w.name}/`));
    assert.ok(
      order.every((i) => i >= 0),
      stdout,
    );
    assert.deepEqual(
      order,
      [...order].sort((a, b) => a - b),
      "the gateway is bundled after the services it binds",
    );
    assert.match(
      stdout,
      /gateway \(wrangler\.toml\); secrets: DATABASE_URL, EVENT_SIGNING_SECRET, JWT_SECRET, UPSTASH_REDIS_REST_TOKEN, UPSTASH_REDIS_REST_URL/,
    );
    for (const w of WORKERS) assert.ok(existsSync(resolve(bundleDir(w, "staging"), "index.js")), `${w.name} bundle`);
  });

  it("refuses an unknown environment with the usage and exit code 2", async () => {
    await assert.rejects(deployScript(["--env", "moon", "--dry-run"]), (err: { code?: number; stderr?: string }) => {
      assert.equal(err.code, 2);
      assert.match(err.stderr ?? "", /unknown environment "moon"[\s\S]*usage: npm run deploy -- --env staging\|production/);
      return true;
    });
  });
});

describe("secrets", () => {
  it("an environment's required secrets come from its own [env.<name>.secrets] section", () => {
    const gateway = WORKERS.find((w) => w.name === "gateway");
    assert.ok(gateway);
    assert.ok(!requiredSecrets(gateway).includes("UPSTASH_REDIS_REST_URL"), "a var locally");
    assert.ok(requiredSecrets(gateway, "production").includes("UPSTASH_REDIS_REST_URL"), "a secret when deployed");
  });

  it("missingSecrets lists the required names that are not set, in order", () => {
    assert.deepEqual(missingSecrets(["A", "B", "C"], ["C", "A", "Z"]), ["B"]);
    assert.deepEqual(missingSecrets(["A"], ["A"]), []);
  });
});
