import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { randomBytes } from "node:crypto";
import { defineConfig } from "vitest/config";
import { WORKERS } from "./scripts/workers.ts";

/** Tests sign their own JWTs with this per-run secret. */
const jwtSecret = randomBytes(32).toString("base64url");
/** Consumers sign event deliveries with this per-run secret; services verify them with it. */
const eventSigningSecret = randomBytes(32).toString("base64url");
/**
 * Retention in tests: archive only the streams of the event-store tests, so the other tests' streams do not
 * each start an archiver in the background; a short retention for the gateway's retention test.
 */
const streamRetention = {
  "*": { maxLen: 1_000_000 },
  "test.archived.*": { maxLen: 1_000_000, archive: true },
  "test.retained.*": { maxLen: 100 },
};
/** Partitions in tests: the example's orders topic and the partition tests' streams have four each. */
const streamPartitions = { "example.orders": 4, "test.partitioned.*": 4 };
const compatibility = { compatibilityDate: "2026-04-20", compatibilityFlags: ["nodejs_compat"] };

/**
 * Every test runs inside workerd. The global setup starts the project's own redis-server and PostgreSQL
 * (plus the local Upstash and Neon endpoints in front of them) and hands their URLs to the workers here.
 */
export default defineConfig({
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
          },
          // An R2 bucket for the kit's BlobStore tests (Miniflare's local R2 implementation).
          r2Buckets: ["TEST_BLOBS"],
          // Every service worker (npm run build → dist/<name>/), reachable through the gateway's service bindings.
          workers: WORKERS.filter((w) => w.name !== "gateway").map((w) => ({
            name: `foundation-${w.name}`,
            modules: true,
            scriptPath: `./dist/${w.name}/index.js`,
            ...compatibility,
            bindings: backing,
          })),
        },
      };
    }),
  ],
  test: {
    globalSetup: ["./packages/local-stack/src/vitest-setup.ts", "./packages/local-stack/src/upstream-fixture.ts"],
    include: [
      "packages/*/src/**/*.test.ts",
      "packages/*/test/workerd/**/*.test.ts",
      "workers/*/src/**/*.test.ts",
      "workers/*/test/**/*.test.ts",
    ],
    testTimeout: 20_000,
    coverage: {
      provider: "istanbul",
      include: [
        "packages/service-kit/src/**",
        "packages/db/src/**",
        "packages/rate-limiter/src/**",
        "packages/event-bus/src/**",
        "packages/registry/src/**",
        "workers/*/src/**",
      ],
      exclude: ["**/*.test.ts"],
      reporter: ["text-summary", "html", "json-summary"],
      thresholds: { lines: 80 },
    },
    hookTimeout: 60_000,
  },
});
