import { spawn } from "node:child_process";
import { availableParallelism } from "node:os";
import { relative, resolve } from "node:path";
import { ROOT, WORKERS } from "./workers.ts";

/**
 * `npm run check`: everything that must hold before a test runs, two at a time (it is CPU-bound and each tool
 * uses one core): the generated Env types and every environment's vars first (fast), then `tsc` on every
 * program, ESLint and Prettier. Each tool's output is printed when it ends; the check fails if any does.
 */
interface Step {
  name: string;
  command: string;
  args: string[];
}

const bin = (tool: string) => resolve(ROOT, "node_modules/.bin", tool);
const tsx = (script: string, ...args: string[]): Step => ({ name: script, command: bin("tsx"), args: [`scripts/${script}.ts`, ...args] });
const programs = [...WORKERS.map((w) => resolve(ROOT, "workers", w.name, "tsconfig.json")), resolve(ROOT, "tsconfig.node.json")];

const first: Step[] = [tsx("types", "--check"), tsx("config-check")];
const heavy: Step[] = [
  { name: "eslint", command: bin("eslint"), args: ["--max-warnings", "0", "."] },
  ...programs.map((p) => ({ name: `tsc ${relative(ROOT, p)}`, command: bin("tsc"), args: ["-p", p] })),
  { name: "prettier", command: bin("prettier"), args: ["--check", "--log-level", "warn", "."] },
];

/** Runs one step, collecting its output; resolves to whether it passed. */
function run(step: Step): Promise<boolean> {
  const started = performance.now();
  return new Promise((done) => {
    const child = spawn(step.command, step.args, { cwd: ROOT, env: { ...process.env, WRANGLER_SEND_METRICS: "false", FORCE_COLOR: "0" } });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.on("error", (err) => {
      output += String(err);
      done(false);
    });
    child.on("close", (code) => {
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      console.log(`check: ${step.name} ${code === 0 ? "passed" : "FAILED"} (${seconds} s)`);
      if (output.trim() && code !== 0) console.log(output.trimEnd());
      done(code === 0);
    });
  });
}

/** Runs steps with at most `width` at once; resolves to whether all passed. */
async function runAll(steps: Step[], width: number): Promise<boolean> {
  const queue = [...steps];
  let ok = true;
  await Promise.all(
    Array.from({ length: Math.min(width, steps.length) }, async () => {
      for (let step = queue.shift(); step; step = queue.shift()) ok = (await run(step)) && ok;
    }),
  );
  return ok;
}

const width = Math.max(2, Math.min(4, availableParallelism()));
const ok = (await runAll(first, width)) && (await runAll(heavy, width));
if (!ok) {
  console.error("check: failed (see above); `npm run lint`, `npm run typecheck` and `npm run format:check` run one tool each");
  process.exit(1);
}
