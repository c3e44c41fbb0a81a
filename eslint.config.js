import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

/**
 * The layers of packages/, bottom up: each package may import only the packages listed for it. `core`
 * imports nothing of ours; capabilities stand on `core` (and `db` where they store); the service kit stands on
 * the capabilities; workers (not listed) may import any package.
 */
const LAYERS = {
  core: [],
  db: [],
  client: [],
  "rate-limiter": ["core"],
  registry: ["core", "db"],
  "event-bus": ["core", "db"],
  jobs: ["core", "db"],
  monitoring: ["core"],
  logs: ["core", "db"],
  vectors: ["core", "db"],
  "service-kit": ["core", "db", "rate-limiter", "registry", "event-bus", "jobs", "monitoring"],
  "local-stack": ["core", "db"],
};

/** One config per package forbidding imports of the packages its layer may not use. */
const layering = Object.entries(LAYERS).map(([pkg, allowed]) => {
  const forbidden = Object.keys(LAYERS).filter((p) => p !== pkg && !allowed.includes(p));
  return {
    files: [`packages/${pkg}/**/*.ts`],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              group: forbidden.flatMap((p) => [`@foundation/${p}`, `@foundation/${p}/*`]),
              message: `packages/${pkg} may import only ${allowed.length ? allowed.join(", ") : "no package of ours"} (layers: see LAYERS in eslint.config.js).`,
            },
            { group: ["../../*/src/*", "../../../packages/*"], message: "Import another package by its name, not by a path into it." },
          ],
        },
      ],
    },
  };
});

export default tseslint.config(
  {
    ignores: [
      "node_modules/",
      "dist/",
      "coverage/",
      ".local/",
      ".wrangler/",
      "**/worker-configuration.d.ts",
      "bench/results/",
      "test-artifacts/",
      "**/.scratch/",
      "workers/*/public/vendor/",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        project: ["./workers/*/tsconfig.json", "./tsconfig.node.json"],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // A dropped promise in a Worker is a lost write: every promise is awaited, returned, or handed to waitUntil.
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", destructuredArrayIgnorePattern: "^_" },
      ],
    },
  },
  ...layering,
  {
    files: ["**/*.js"],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // Browser scripts served as static assets (the /docs page).
    files: ["workers/*/public/**/*.js"],
    languageOptions: { globals: { ...globals.browser, SwaggerUIBundle: "readonly" } },
  },
  {
    files: ["**/*.test.ts"],
    rules: {
      "@typescript-eslint/require-await": "off",
    },
  },
);
