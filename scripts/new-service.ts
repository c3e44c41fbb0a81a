import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { ROOT } from "./workers.ts";

/**
 * `npm run new:service -- <name>`: scaffolds workers/<name>/ on the service kit (config, typed env, health,
 * metrics, a documented route, an event subscription, a test through the gateway), binds it to the gateway
 * as /api/<name>/*, updates the lockfile and the generated types. The next modules start here.
 */
const TEMPLATES = resolve(import.meta.dirname, "templates/service");
const NAME = /^[a-z][a-z0-9-]{0,62}[a-z0-9]$/;
const RESERVED = new Set(["gateway", "foundation", "example", "docs", "metrics", "health"]);
const log = (line: string) => console.log(`new:service: ${line}`);

function fail(message: string): never {
  console.error(`new:service: ${message}`);
  process.exit(2);
}

/** Every template file, relative to the template folder. */
function templateFiles(dir = TEMPLATES): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((d) =>
    d.isDirectory() ? templateFiles(join(dir, d.name)) : [relative(TEMPLATES, join(dir, d.name))],
  );
}

/** The text of a template with the service's name filled in. */
function render(template: string, name: string): string {
  return template.replaceAll("__name__", name).replaceAll("__BINDING__", name.toUpperCase().replace(/-/g, "_"));
}

/**
 * The gateway's wrangler.toml with a service binding for `name` added after the last one of each block
 * kind: the local one (`foundation-<name>`) and each deployed environment's (`foundation-<name>-<env>`).
 */
function withServiceBinding(config: string, name: string): string {
  const binding = name.toUpperCase().replace(/-/g, "_");
  let out = config;
  for (const env of ["", ...new Set([...config.matchAll(/^\[\[env\.([a-z0-9-]+)\.services\]\]$/gm)].map((m) => m[1] ?? ""))]) {
    const header = env ? `[[env.${env}.services]]` : "[[services]]";
    const service = env ? `foundation-${name}-${env}` : `foundation-${name}`;
    const blocks = [
      ...out.matchAll(new RegExp(`^${header.replace(/[[\].]/g, "\\$&")}\nbinding = "[A-Z0-9_]+"\nservice = "[a-z0-9-]+"\n`, "gm")),
    ];
    const last = blocks.at(-1);
    if (!last) throw new Error(`no ${header} binding found in wrangler.toml to add the new one after`);
    const at = last.index + last[0].length;
    out = `${out.slice(0, at)}\n${header}\nbinding = "${binding}"\nservice = "${service}"\n${out.slice(at)}`;
  }
  return out;
}

function run(command: string, args: string[]): void {
  log(`${command} ${args.join(" ")}`);
  execFileSync(command, args, {
    cwd: ROOT,
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
  });
}

function main(): void {
  const name = process.argv[2];
  if (!name || name === "--help" || name === "-h") {
    console.log("usage: npm run new:service -- <name>\n  <name>: lower-case letters, digits and dashes, 2–64 characters (e.g. ai-monitor)");
    process.exit(name ? 0 : 2);
  }
  if (!NAME.test(name)) fail(`"${name}" is not a valid service name: lower-case letters, digits and dashes, 2–64, starting with a letter`);
  if (RESERVED.has(name)) fail(`"${name}" is reserved`);
  const dir = resolve(ROOT, "workers", name);
  if (existsSync(dir)) fail(`workers/${name} already exists`);

  for (const file of templateFiles()) {
    const target = resolve(dir, file.replace(/\.tmpl$/, ""));
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, render(readFileSync(resolve(TEMPLATES, file), "utf8"), name));
    log(`wrote ${relative(ROOT, target)}`);
  }
  const gatewayConfig = resolve(ROOT, "wrangler.toml");
  writeFileSync(gatewayConfig, withServiceBinding(readFileSync(gatewayConfig, "utf8"), name));
  log(`bound it to the gateway in wrangler.toml (/api/${name}/* → foundation-${name})`);

  run("npm", ["install", "--no-audit", "--no-fund"]);
  run("npm", ["run", "--silent", "types"]);
  run("npx", ["prettier", "--write", `workers/${name}`]);
  log(`done. Next: npm test (builds it and runs workers/${name}/test through the gateway), then npm run dev and`);
  log(`curl -H "authorization: Bearer $(npm run --silent token -- --scope read)" http://127.0.0.1:8787/api/${name}/hello`);
}

main();
