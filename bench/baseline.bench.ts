/**
 * HTTP baseline: a hello-world Hono worker (the ceiling), the example service on its own, and the same
 * route through the gateway's service binding, each under wrk and each as a ratio of the hello world.
 */
import { resolve } from "node:path";
import { defineBench } from "./lib/context.ts";
import { bundledWorker, bundleWorker, readWranglerBasics, stackBindings, withWorkers, type BenchWorker } from "./lib/miniflare.ts";
import { checkEndpoint, ensureWrk, measureHttp } from "./lib/wrk.ts";

const hasField = (body: unknown, key: string, value: string) =>
  typeof body === "object" && body !== null && (body as Record<string, unknown>)[key] === value;

export default defineBench({
  name: "baseline",
  description: "wrk: hello-world Hono worker, example service direct, example through the gateway",
  async run(ctx) {
    await ensureWrk(ctx.log, ctx.signal);
    const at = (...p: string[]) => resolve(ctx.root, ...p);
    const bindings = stackBindings(ctx.stack);
    const exampleConfig = at("workers/example/wrangler.toml");
    const exampleBasics = readWranglerBasics(exampleConfig);
    const example = bundledWorker(at("dist/example/index.js"), exampleConfig, bindings);
    const gateway = bundledWorker(
      at("dist/gateway/index.js"),
      at("wrangler.toml"),
      { ...bindings, JWT_SECRET: "bench-only-secret" },
      { EXAMPLE: exampleBasics.name },
    );
    const hello: BenchWorker = {
      name: "bench-hello",
      modules: true,
      script: await bundleWorker(at("bench/workers/hello.ts")),
      compatibilityDate: exampleBasics.compatibilityDate,
      compatibilityFlags: exampleBasics.compatibilityFlags,
    };

    await withWorkers({ "hello-world": [hello], example: [example], gateway: [gateway, example] }, ctx.log, async (urls) => {
      const helloTarget = {
        label: "hello-world",
        figure: "hello",
        url: new URL("/", urls["hello-world"]).href,
        description: "Hono hello-world worker (ceiling)",
      };
      const exampleTargets = [
        {
          label: "example direct",
          figure: "example.direct",
          url: new URL("/hello", urls.example).href,
          description: "`GET /hello` on the example service, served directly",
          baseline: "hello",
        },
        {
          label: "example via gateway",
          figure: "example.gateway",
          url: new URL("/api/example/hello", urls.gateway).href,
          description: "`GET /api/example/hello` through the gateway's `EXAMPLE` service binding",
          baseline: "hello",
        },
      ];
      await checkEndpoint(helloTarget.url, (b) => hasField(b, "hello", "world"), ctx.signal);
      for (const t of exampleTargets) await checkEndpoint(t.url, (b) => hasField(b, "service", "example"), ctx.signal);
      await measureHttp(ctx, [helloTarget, ...exampleTargets]);
    });
  },
});
