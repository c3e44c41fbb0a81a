import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { createHmac, randomBytes } from "node:crypto";
import { defineConfig } from "vitest/config";
import { WORKERS } from "./scripts/workers.ts";

/** Tests sign their own JWTs with this per-run secret. */
const jwtSecret = randomBytes(32).toString("base64url");
/** The bus signs deliveries with this per-run secret; each service verifies with its own, derived from it. */
const eventSigningSecret = randomBytes(32).toString("base64url");
/** `serviceSecret` of @foundation/event-bus, computed here with node:crypto (vite cannot load the package's TypeScript yet). */
const serviceSecrets = Object.fromEntries(
  WORKERS.map((w) => [w.name, `whsec_${createHmac("sha256", eventSigningSecret).update(`service:${w.name}`).digest("base64")}`]),
);
/**
 * Retention in tests: archive only the streams of the event-store tests (named exactly, as archiving requires), so
 * the other tests' streams do not each start an archiver in the background (event-store.test.ts takes 1–15,
 * streams.test.ts 16); a short retention for the gateway's retention test.
 */
const streamRetention = {
  "*": { maxLen: 1_000_000 },
  ...Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`test.archived.${i + 1}`, { maxLen: 1_000_000, archive: true }])),
  "test.retained.*": { maxLen: 100 },
};
/** Partitions in tests: the example's orders topic and the partition tests' streams have four each. */
const streamPartitions = { "example.orders": 4, "test.partitioned.*": 4 };
const compatibility = { compatibilityDate: "2026-04-20", compatibilityFlags: ["nodejs_compat"] };

/** Pure tests beside the code they test: plain Node, no servers, seconds. */
const UNIT = ["packages/*/src/**/*.test.ts", "workers/*/src/**/*.test.ts", "scripts/**/*.test.ts"];
/** Node-side tests that start what they need themselves (the stack, Miniflare, Prometheus, Chromium). */
const NODE = ["scripts/**/*.node.test.ts", "packages/*/test/**/*.node.test.ts", "workers/*/test/**/*.node.test.ts"];

/**
 * Three projects, all run by `npm test` (`vitest run`): `unit`, `workerd` (integration tests inside workerd
 * against the real redis-server and PostgreSQL that the global setup starts, with the Upstash and Neon
 * endpoints in front of them) and `node`. `npx vitest run --project unit` needs no server.
 */
export default defineConfig({
  test: {
    projects: [
      { test: { name: "unit", environment: "node", include: UNIT, exclude: NODE, sequence: { groupOrder: 0 } } },
      {
        test: {
          name: "node",
          environment: "node",
          // After the workerd project: both start servers, and two cores serve one project at a time better.
          sequence: { groupOrder: 2 },
          include: NODE,
          testTimeout: 120_000,
          hookTimeout: 120_000,
          // Each file starts its own servers on free ports; two at a time keeps a 2-core machine responsive.
          maxWorkers: 2,
        },
      },
      {
        plugins: [
          cloudflareTest(({ inject }) => {
            const stack = inject("stack");
            const backing = {
              ENVIRONMENT: "local",
              UPSTASH_REDIS_REST_URL: stack.upstashUrl,
              UPSTASH_REDIS_REST_TOKEN: stack.upstashToken,
              DATABASE_URL: stack.databaseUrl,
              NEON_HTTP_ENDPOINT: stack.neonHttpEndpoint,
              NEON_WS_PROXY: stack.neonWsProxy,
              VECTOR_DATABASE_URL: stack.vectorDatabaseUrl,
              EVENT_SIGNING_SECRET: eventSigningSecret,
            };
            return {
              wrangler: { configPath: "./wrangler.toml" },
              miniflare: {
                bindings: {
                  ...backing,
                  JWT_SECRET: jwtSecret,
                  STACK_CONTROL_URL: stack.controlUrl,
                  STACK_CONTROL_TOKEN: stack.controlToken,
                  STREAM_RETENTION: JSON.stringify(streamRetention),
                  STREAM_PARTITIONS: JSON.stringify(streamPartitions),
                  // Tests create thousands of streams under a few subjects; the quota's own test lowers it.
                  NEW_STREAMS_PER_HOUR: "1000000",
                },
                // An R2 bucket for the kit's BlobStore tests (Miniflare's local R2 implementation).
                r2Buckets: ["TEST_BLOBS"],
                // Every service worker (npm run build → dist/<name>/), reachable through the gateway's service bindings.
                workers: WORKERS.filter((w) => w.name !== "gateway").map((w) => ({
                  name: `foundation-${w.name}`,
                  modules: true,
                  scriptPath: `./dist/${w.name}/index.js`,
                  ...compatibility,
                  bindings: { ...backing, EVENT_SIGNING_SECRET: serviceSecrets[w.name] ?? "" },
                })),
              },
            };
          }),
        ],
        test: {
          name: "workerd",
          sequence: { groupOrder: 1 },
          globalSetup: ["./packages/local-stack/src/vitest-setup.ts", "./packages/local-stack/src/upstream-fixture.ts"],
          include: ["packages/*/test/**/*.test.ts", "workers/*/test/**/*.test.ts"],
          exclude: NODE,
          testTimeout: 20_000,
          hookTimeout: 60_000,
        },
      },
    ],
    coverage: {
      provider: "istanbul",
      include: ["packages/*/src/**", "workers/*/src/**"],
      exclude: ["**/*.test.ts", "packages/local-stack/**", "packages/client/**"],
      reporter: ["text-summary", "html", "json-summary"],
      thresholds: { lines: 80 },
    },
  },
});
