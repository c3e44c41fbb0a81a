import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { varProblems } from "./config-check.ts";
import { ROOT } from "./workers.ts";

const dir = mkdtempSync(join(tmpdir(), "config-check-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The gateway's wrangler.toml with one var of one environment replaced (its `[vars]` or `[env.<env>.vars]`). */
function gatewayWith(env: "local" | "production", name: string, value: string): string {
  const lines = readFileSync(resolve(ROOT, "wrangler.toml"), "utf8").split("\n");
  const section = env === "local" ? "[vars]" : `[env.${env}.vars]`;
  const start = lines.indexOf(section);
  const at = lines.findIndex((l, i) => i > start && l.startsWith(`${name} = `));
  const end = lines[at]?.endsWith('"""') ? lines.findIndex((l, i) => i > at && l === '"""') : at;
  lines.splice(at, end - at + 1, `${name} = ${JSON.stringify(value)}`);
  const file = join(dir, `${env}-${name}.toml`);
  writeFileSync(file, lines.join("\n"));
  return file;
}

describe("npm run config:check", () => {
  it("finds every environment of the committed configs valid", async () => {
    expect(await varProblems({ name: "gateway", config: resolve(ROOT, "wrangler.toml") })).toEqual([]);
    expect(await varProblems({ name: "example", config: resolve(ROOT, "workers/example/wrangler.toml") })).toEqual([]);
  });

  it.each([
    ["STREAM_RETENTION", '{"*": {"maxLen": -1}}'],
    ["ROUTE_AUTH", '[{"path": "/api/x", "auth": "open"}]'],
    ["CORS_ORIGINS", "https://app.example null"],
    ["RATE_LIMIT_POLICIES", "[{"],
    ["STREAM_PARTITIONS", '{"orders": 0}'],
    ["UPSTREAM_TIMEOUTS", '{"reports": "soon"}'],
  ])("fails a malformed %s in the environment that has it, naming the variable", async (name, value) => {
    const problems = await varProblems({ name: "gateway", config: gatewayWith("production", name, value) });
    expect(problems.length).toBeGreaterThan(0);
    for (const p of problems) expect(p).toMatch(new RegExp(`^gateway \\(production, .*\\): ${name}\\b`));
  });

  it("checks the local vars too", async () => {
    const problems = await varProblems({ name: "gateway", config: gatewayWith("local", "ROUTE_AUTH", "not json") });
    expect(problems).toEqual([expect.stringMatching(/^gateway \(local, .*\): ROUTE_AUTH is not valid JSON/)]);
  });

  it("checks a worker without a config module against the service kit's vars", async () => {
    const file = join(dir, "example.toml");
    copyFileSync(resolve(ROOT, "workers/example/wrangler.toml"), file);
    writeFileSync(file, readFileSync(file, "utf8").replace('ENVIRONMENT = "staging"', 'ENVIRONMENT = "Staging Env"'));
    expect(await varProblems({ name: "example", config: file })).toEqual([
      expect.stringMatching(/^example \(staging, .*\): ENVIRONMENT: /),
    ]);
  });
});
