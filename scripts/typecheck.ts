import { execFileSync } from "node:child_process";
import { relative, resolve } from "node:path";
import { ROOT, WORKERS } from "./workers.ts";

/** `npm run typecheck`: `tsc` on every worker's program (each against its own generated Env) and the Node-side code. */
const projects = [...WORKERS.map((w) => resolve(ROOT, "workers", w.name, "tsconfig.json")), resolve(ROOT, "tsconfig.node.json")];
let failed = false;
for (const project of projects) {
  try {
    execFileSync(resolve(ROOT, "node_modules/.bin/tsc"), ["-p", project], { cwd: ROOT, stdio: "inherit" });
  } catch {
    failed = true;
    console.error(`typecheck: ${relative(ROOT, project)} has errors`);
  }
}
if (failed) process.exit(1);
