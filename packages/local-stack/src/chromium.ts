import { existsSync } from "node:fs";
import { which } from "./binaries.ts";
import { run, type LogFn } from "./process.ts";

/** What to run when Chromium is missing (Debian's `chromium` package; playwright-core drives it headless). */
export const CHROMIUM_INSTALL_COMMAND = "sudo apt-get install -y --no-install-recommends chromium";

let cached: Promise<string> | undefined;

/**
 * What to do about the browser found: use it, install it (root on Debian), or fail with the command a
 * person has to run; never skip.
 * @example chromiumPlan(undefined, false) // Error: chromium is not installed; run: sudo apt-get …
 */
export function chromiumPlan(found: string | undefined, canInstall: boolean): { path: string } | "install" | Error {
  if (found) return { path: found };
  if (canInstall) return "install";
  return new Error(`chromium is not installed; run: ${CHROMIUM_INSTALL_COMMAND}`);
}

async function resolveChromium(log: LogFn): Promise<string> {
  const plan = chromiumPlan(which("chromium"), process.getuid?.() === 0 && existsSync("/etc/debian_version"));
  if (plan instanceof Error) throw plan;
  if (plan !== "install") return plan.path;
  log("missing chromium: installing Debian's chromium package with apt-get");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const onLine = (l: string) => log(`apt: ${l}`);
  await run("apt-get", ["update"], { env, onLine });
  await run("apt-get", ["install", "-y", "--no-install-recommends", "chromium"], { env, onLine });
  const after = chromiumPlan(which("chromium"), false);
  if (after instanceof Error || after === "install")
    throw new Error(`chromium is still missing after apt-get; run: ${CHROMIUM_INSTALL_COMMAND}`);
  return after.path;
}

/**
 * The path of Debian's `chromium`; when it is missing and we are root on Debian, installs it with apt-get;
 * otherwise throws an Error naming the command to run.
 * @example const executablePath = await ensureChromium(console.log); await chromium.launch({ executablePath });
 */
export function ensureChromium(log: LogFn = () => {}): Promise<string> {
  cached ??= resolveChromium(log).catch((err: unknown) => {
    cached = undefined;
    throw err;
  });
  return cached;
}
