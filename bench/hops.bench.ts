/**
 * Ways of calling another worker, against the callee served directly: the service binding's `fetch` (what the
 * gateway does), JS RPC three ways (a constant, the request as plain data, the `Request` and `Response` themselves),
 * and the callee's app called inside the caller's isolate. The callee is a Hono hello-world
 * (`bench/workers/hop-callee.ts`), each variant a workerd of its own, all in the same wrk rounds; `hop.<mode>.cpu`
 * is the workerd's CPU per request, and `hop.<mode>.cpu-over-direct` its ratio to the callee's own, paired by round.
 * It shows whether a gateway could route more cheaply than over `fetch` while it carries HTTP semantics.
 */
import { resolve } from "node:path";
import { defineBench } from "./lib/context.ts";
import { benchOnlyWorker, servedPid, withWorkers, type BenchWorker } from "./lib/miniflare.ts";
import { recordFigure } from "./lib/results.ts";
import { roundTo } from "./lib/stats.ts";
import { checkEndpoint, ensureWrk, measureHttp, pairedCpu, type HttpTarget } from "./lib/wrk.ts";

const CALLEE = "bench-hop-callee";

/** The caller's `MODE`s (see `bench/workers/hop-caller.ts`). */
const MODES: readonly { mode: string; description: string }[] = [
  { mode: "fetch", description: "a new `Request` forwarded over the service binding's `fetch` (as the gateway routes)" },
  { mode: "rpc-constant", description: "a JS RPC call that returns a constant, with no HTTP handling on the far side" },
  {
    mode: "rpc-plain",
    description: "JS RPC with method, URL and headers as plain data; the far side runs the app and returns status, headers and body",
  },
  { mode: "rpc-request", description: "JS RPC passing the `Request` itself and returning the app's `Response`" },
  {
    mode: "inline",
    description: "the callee's app called in the caller's own isolate (`app.fetch` with a new `Request`), no second worker",
  },
];

export default defineBench({
  name: "hops",
  description: "calling another worker: service-binding fetch, JS RPC three ways and in-isolate, against the callee direct",
  async run(ctx) {
    await ensureWrk(ctx.log, ctx.signal);
    const at = (...p: string[]) => resolve(ctx.root, ...p);
    const config = at("workers/example/wrangler.toml");
    const callee = await benchOnlyWorker(CALLEE, at("bench/workers/hop-callee.ts"), config);
    const callerScript = await benchOnlyWorker("bench-hop-caller", at("bench/workers/hop-caller.ts"), config);
    const groups: Record<string, BenchWorker[]> = { direct: [callee] };
    for (const { mode } of MODES) {
      const caller: BenchWorker = { ...callerScript, bindings: { MODE: mode } };
      // The inline mode runs the callee's app in its own isolate: no second worker to bind.
      groups[mode] =
        mode === "inline" ? [caller] : [{ ...caller, serviceBindings: { CALLEE, HOP: { name: CALLEE, entrypoint: "Hop" } } }, callee];
    }
    await withWorkers(groups, ctx.log, async (urls, served) => {
      const pid = (label: string) => servedPid(served, label);
      const targets: HttpTarget[] = [
        {
          label: "callee direct",
          figure: "hop.direct",
          url: new URL("/hello", urls.direct).href,
          description: "Hono hello-world served directly (the callee of every hop)",
          pid: pid("direct"),
        },
        ...MODES.map(({ mode, description }) => ({
          label: `hop ${mode}`,
          figure: `hop.${mode}`,
          url: new URL("/hello", urls[mode]).href,
          description: `hello-world reached through a caller worker: ${description}`,
          baseline: "hop.direct",
          pid: pid(mode),
        })),
      ];
      for (const t of targets) await checkEndpoint(t.url, (b) => (b as { hello?: string }).hello === "world", ctx.signal);
      const m = await measureHttp(ctx, targets);
      for (const { mode, description } of MODES) {
        const over = pairedCpu(m.get(`hop.${mode}`), m.get("hop.direct"), (x, y) => x / y);
        if (!over) continue;
        recordFigure({
          name: `hop.${mode}.cpu-over-direct`,
          unit: "×",
          median: roundTo(over.median, 3),
          description: `CPU per request through a caller worker (${description}) over the callee's served directly, paired by round`,
          samples: over.samples,
        });
        ctx.log(`hop ${mode}: ${over.median.toFixed(2)}× the callee's CPU per request`);
      }
    });
  },
});
