/**
 * Discovery inside workerd, for bench/registry.bench.ts: lookups through `RegistryClient` against the gateway
 * bundle's `ServiceRegistry` objects (bound by name), from the isolate's cache or from the object every time.
 *
 * `GET /setup?name=…&instances=…` registers the instances to look up;
 * `GET /lookup?mode=cached|uncached|none&name=…` takes one lookup (`none` takes none: the HTTP floor);
 * `GET /loop?mode=cached|uncached&name=…&n=…` takes `n` in a row and answers how long they took together.
 * workerd's clock only moves in whole milliseconds, so one lookup cannot be timed in here: the bench times
 * `/lookup` from Node for uncached lookups, and `/loop` over many thousands for cached ones.
 *
 * The registry's client is handed in by registry-entry.js: bench/ is type-checked with Node's types, the
 * package with workerd's, so this module types the slice it uses structurally.
 */

/** Lookup paths: the isolate's cache (default staleness bound), the Durable Object every time, or nothing. */
export type Mode = "cached" | "uncached" | "none";

/** What `/lookup` answers. */
export interface LookupAnswer {
  mode: Mode;
  instances: number;
}

/** What `/loop` answers. */
export interface LoopAnswer {
  n: number;
  /** Wall time of the `n` lookups together, on workerd's whole-millisecond clock. */
  elapsedMs: number;
  instances: number;
}

/** The part of `RegistryClient` this worker calls. */
export interface BenchRegistryClient {
  register(input: { name: string; url: string; version: string; ttlSeconds: number }): Promise<{ ok: boolean }>;
  discover(name: string, options?: { passing?: boolean }): Promise<{ instances: unknown[] }>;
}

/** The part of @foundation/registry this worker uses (see the module comment for why it is injected). */
export interface RegistrySlice {
  /** A client over the worker's bindings, with a cache of the given staleness bound. */
  client(env: object, maxStalenessMs: number): BenchRegistryClient;
  /** The default staleness bound of discovery. */
  defaultStalenessMs: number;
}

const json = (body: unknown, status = 200) => Response.json(body, { status });

function intParam(url: URL, name: string, fallback: number): number {
  const v = Number(url.searchParams.get(name) ?? fallback);
  return Number.isInteger(v) && v > 0 ? v : fallback;
}

/**
 * The bench worker's fetch handler around the given registry slice.
 * @example export default createRegistryBench({ client: (env, ms) => new RegistryClient(env, { cache: new RegistryCache({ maxStalenessMs: ms }) }), ... });
 */
export function createRegistryBench(registry: RegistrySlice): { fetch(request: Request, env: object): Promise<Response> } {
  let cached: BenchRegistryClient | undefined;
  let uncached: BenchRegistryClient | undefined;
  const clientFor = (mode: Mode, env: object) =>
    mode === "cached" ? (cached ??= registry.client(env, registry.defaultStalenessMs)) : (uncached ??= registry.client(env, 0));

  return {
    async fetch(request, env) {
      const url = new URL(request.url);
      const name = url.searchParams.get("name") ?? "bench-lookup";
      const mode = url.searchParams.get("mode") as Mode | null;
      try {
        if (url.pathname === "/setup") {
          const count = intParam(url, "instances", 3);
          const client = clientFor("uncached", env);
          for (let i = 0; i < count; i++) {
            const r = await client.register({ name, url: `https://i${i}.${name}.example.com/`, version: "1.0.0", ttlSeconds: 3600 });
            if (!r.ok) return json({ error: `registration refused: ${JSON.stringify(r)}` }, 500);
          }
          return json({ instances: (await clientFor("uncached", env).discover(name)).instances.length });
        }
        if (mode !== "cached" && mode !== "uncached" && mode !== "none") return json({ error: "need ?mode=cached|uncached|none" }, 400);
        if (url.pathname === "/lookup") {
          const instances = mode === "none" ? 0 : (await clientFor(mode, env).discover(name, { passing: true })).instances.length;
          return json({ mode, instances } satisfies LookupAnswer);
        }
        if (url.pathname === "/loop" && mode !== "none") {
          const n = intParam(url, "n", 1000);
          const client = clientFor(mode, env);
          let instances = (await client.discover(name, { passing: true })).instances.length;
          const started = performance.now();
          for (let i = 0; i < n; i++) instances = (await client.discover(name, { passing: true })).instances.length;
          return json({ n, elapsedMs: performance.now() - started, instances } satisfies LoopAnswer);
        }
        return json({ error: "routes: /setup, /lookup, /loop" }, 404);
      } catch (err) {
        return json({ error: (err as Error).message }, 500);
      }
    },
  };
}
