import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { relative, resolve } from "node:path";
import { serviceSecret } from "@foundation/event-bus/subscriber";
import { startLocalStack, workerBindings } from "@foundation/local-stack";
import { copyVendorAssets } from "./assets.ts";
import { DEV_VARS, localJwtSecret, localSecret, parseDevVars, signLocalToken, writeDevVars } from "./dev-vars.ts";
import { ROOT, WORKERS } from "./workers.ts";

/**
 * `npm run dev`: the whole system locally. Starts redis-server, PostgreSQL and the Upstash/Neon endpoints
 * (data kept in .local/dev), writes each worker's .dev.vars, runs every worker in `wrangler dev`, waits
 * for the gateway's /health and prints a ready line. Ctrl-C stops every child and keeps the data.
 */
const port = Number(process.env.PORT ?? 8787);
const envPort = (name: string) => (process.env[name] ? Number(process.env[name]) : undefined);
const log = (line: string) => console.log(`dev: ${line}`);

copyVendorAssets();
const stack = await startLocalStack({
  root: ROOT,
  profile: "dev",
  ports: {
    redis: envPort("REDIS_PORT") ?? 6390,
    postgres: envPort("POSTGRES_PORT") ?? 5440,
    vector: envPort("VECTOR_PORT") ?? 8076,
    upstash: envPort("UPSTASH_PORT") ?? 8079,
    neon: envPort("NEON_PORT") ?? 8078,
    control: envPort("CONTROL_PORT") ?? 8077,
  },
  log,
});

const jwtSecret = localJwtSecret();
const eventSigningSecret = localSecret("EVENT_SIGNING_SECRET");
const backing = workerBindings(stack);
/**
 * A service registers itself through the gateway's HTTP API with a service token named after it (30 days), which
 * may also publish events (the example's `POST /greetings` does).
 */
const selfRegistration = async (service: string) => ({
  REGISTRY_URL: `http://127.0.0.1:${port}`,
  REGISTRY_TOKEN: await signLocalToken(service, ["service", "publish"], 30 * 86_400),
});
for (const w of WORKERS) {
  const gateway = w.name === "gateway";
  const file = gateway ? DEV_VARS : resolve(w.config, "..", ".dev.vars");
  const kept = existsSync(file) ? parseDevVars(readFileSync(file, "utf8")) : {};
  // The gateway signs deliveries with the bus's secret; each service verifies with its own, derived from it.
  const signing = { EVENT_SIGNING_SECRET: gateway ? eventSigningSecret : await serviceSecret(eventSigningSecret, w.name) };
  writeDevVars(file, { ...kept, ...backing, ...signing, ...(gateway ? { JWT_SECRET: jwtSecret } : await selfRegistration(w.name)) });
}

const gatewayConfig = WORKERS.find((w) => w.name === "gateway")?.config ?? resolve(ROOT, "wrangler.toml");
const configs = [gatewayConfig, ...WORKERS.filter((w) => w.name !== "gateway").map((w) => w.config)];
const wrangler = spawn(
  resolve(ROOT, "node_modules/.bin/wrangler"),
  [
    "dev",
    ...configs.flatMap((c) => ["-c", relative(ROOT, c)]),
    "--ip",
    "127.0.0.1",
    "--port",
    String(port),
    "--persist-to",
    ".local/dev/wrangler",
    "--show-interactive-dev-session=false",
  ],
  {
    cwd: ROOT,
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" },
  },
);

let stopping = false;
async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  log("stopping…");
  if (wrangler.exitCode === null) {
    wrangler.kill("SIGTERM");
    await new Promise((r) => wrangler.once("exit", r));
  }
  await stack.stop();
  log("stopped; data kept in .local/dev");
  process.exit(code);
}
process.on("SIGINT", () => void shutdown(0));
process.on("SIGTERM", () => void shutdown(0));
wrangler.on("exit", (code) => {
  if (!stopping) {
    log(`wrangler dev exited with code ${code ?? "null"}`);
    void shutdown(code ?? 1);
  }
});

const gateway = `http://127.0.0.1:${port}`;
const deadline = Date.now() + 120_000;
for (;;) {
  try {
    const res = await fetch(`${gateway}/health`);
    if (res.status === 200) break;
  } catch {
    // not listening yet
  }
  if (Date.now() > deadline) {
    log(`the gateway did not become healthy at ${gateway}/health within 120 s`);
    await shutdown(1);
  }
  await new Promise((r) => setTimeout(r, 500));
}
log(`redis        ${stack.redis.url}`);
log(`postgres     ${stack.postgres.databaseUrl.replace(/:[^:@/]+@/, ":***@")}`);
log(`upstash REST ${stack.upstash.url}`);
log(`neon HTTP    ${stack.neon.httpEndpoint}`);
log(`vectors      ${stack.vector.databaseUrl} (PGlite + pgvector, through the Neon endpoint)`);
log(`gateway      ${gateway}  (health: ${gateway}/health, example: ${gateway}/api/example/hello)`);
log(`ready: ${gateway} (Ctrl-C stops everything and keeps the data)`);
