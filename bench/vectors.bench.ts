/**
 * Vector search (issue 23): 100,000 clustered 384-dimensional vectors (fixed seed) in one cosine collection of the
 * local stack's vector database (PGlite with real pgvector). Measures insert throughput without and with the HNSW
 * index, the index build, recall@10 of HNSW queries against exact search of the same queries in the same run, and
 * query latency and rate through the package (Node, over the local Neon HTTP endpoint, as a worker's calls go) and
 * through the gateway (HTTP, JWT, validation). `BENCH_VECTORS` sets the collection size (default 100,000).
 */
import { resolve } from "node:path";
import { buildIndex, createCollection, deleteCollection, queryCollection, upsertRecords, type VectorEnv } from "@foundation/vectors";
import { BENCH_JWT_SECRET, benchToken } from "./lib/auth.ts";
import { defineBench, type BenchContext } from "./lib/context.ts";
import { percentile } from "./lib/latency.ts";
import { bundledWorker, stackBindings, withWorkers } from "./lib/miniflare.ts";
import { recordFigure } from "./lib/results.ts";
import { roundTo } from "./lib/stats.ts";

const DIM = 384;
const CLUSTERS = 100;
const QUERIES = 100;
const K = 10;
const BATCH = 1000;
const COLLECTION = "bench.vectors";

/** mulberry32: a small seeded generator, so every run indexes the same vectors. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
/** A standard normal sample (Box–Muller). */
const gaussian = (rand: () => number) => Math.sqrt(-2 * Math.log(rand() || 1e-12)) * Math.cos(2 * Math.PI * rand());
const round = (v: number[]) => v.map((x) => Math.round(x * 1e4) / 1e4);

/** `CLUSTERS` random centres: the topics. */
function centres(rand: () => number): number[][] {
  return Array.from({ length: CLUSTERS }, () => Array.from({ length: DIM }, () => gaussian(rand)));
}

/**
 * Points around the centres: what text embeddings of a few topics look like. Queries must come from the same
 * topics (with noise of their own): a query far from every cluster has a hundred thousand near-equidistant
 * neighbours, which says nothing about an index.
 */
function clusteredVectors(n: number, topics: number[][], rand: () => number): number[][] {
  return Array.from({ length: n }, () => {
    const c = topics[Math.floor(rand() * topics.length)]!;
    return round(c.map((x) => x + 0.6 * gaussian(rand)));
  });
}

const stats = (ms: number[]) => ({ p50: percentile(ms, 50), p99: percentile(ms, 99) });

async function timedQueries(
  queries: number[][],
  ask: (q: number[]) => Promise<string[]>,
): Promise<{ ids: string[][]; ms: number[]; qps: number }> {
  const ids: string[][] = [];
  const ms: number[] = [];
  const t0 = performance.now();
  for (const q of queries) {
    const t = performance.now();
    ids.push(await ask(q));
    ms.push(performance.now() - t);
  }
  return { ids, ms, qps: (queries.length * 1000) / (performance.now() - t0) };
}

const recall = (got: string[][], truth: string[][]) =>
  got.reduce((sum, ids, i) => sum + ids.filter((id) => truth[i]!.includes(id)).length, 0) / (truth.length * K);

async function run(ctx: BenchContext): Promise<void> {
  const n = Number(process.env.BENCH_VECTORS ?? 100_000);
  const env: VectorEnv = {
    DATABASE_URL: ctx.stack.neon.databaseUrl,
    NEON_HTTP_ENDPOINT: ctx.stack.neon.httpEndpoint,
    VECTOR_DATABASE_URL: ctx.stack.vector.databaseUrl,
    DATABASE_TIMEOUT_MS: "120000",
  };
  const rand = seeded(23);
  const topics = centres(rand);
  const vectors = clusteredVectors(n + 1000, topics, rand);
  const queries = clusteredVectors(QUERIES, topics, seeded(2323));
  await deleteCollection(env, COLLECTION).catch(() => undefined);
  await createCollection(env, { name: COLLECTION, dimension: DIM, metric: "cosine" }, { index: false });

  let t0 = performance.now();
  for (let i = 0; i < n; i += BATCH) {
    ctx.signal.throwIfAborted();
    const batch = vectors.slice(i, Math.min(n, i + BATCH)).map((embedding, j) => ({ id: `v${i + j}`, embedding, metadata: { i: i + j } }));
    await upsertRecords(env, COLLECTION, batch);
  }
  const insertRps = (n * 1000) / (performance.now() - t0);
  ctx.log(`vectors: ${n} inserted without an index at ${insertRps.toFixed(0)} records/s`);
  t0 = performance.now();
  await buildIndex(env, COLLECTION);
  const buildS = (performance.now() - t0) / 1000;
  ctx.log(`vectors: HNSW index (m 16, ef_construction 64) built in ${buildS.toFixed(1)} s`);
  t0 = performance.now();
  for (let i = n; i < n + 1000; i += 100) {
    await upsertRecords(
      env,
      COLLECTION,
      vectors.slice(i, i + 100).map((embedding, j) => ({ id: `v${i + j}`, embedding, metadata: { i: i + j } })),
    );
  }
  const indexedRps = (1000 * 1000) / (performance.now() - t0);

  const ask = (extra: { exact?: boolean; efSearch?: number }) => async (q: number[]) =>
    (await queryCollection(env, COLLECTION, { embedding: q, k: K, ...extra })).map((m) => m.id);
  const exact = await timedQueries(queries, ask({ exact: true }));
  const ef40 = await timedQueries(queries, ask({ efSearch: 40 }));
  const ef100 = await timedQueries(queries, ask({ efSearch: 100 }));
  const r40 = recall(ef40.ids, exact.ids);
  const r100 = recall(ef100.ids, exact.ids);
  ctx.log(`vectors: recall@10 ef_search 40 ${r40.toFixed(3)}, 100 ${r100.toFixed(3)}; exact p50 ${stats(exact.ms).p50.toFixed(1)} ms`);

  const token = await benchToken();
  const gatewayWorker = bundledWorker(resolve(ctx.root, "dist/gateway/index.js"), resolve(ctx.root, "wrangler.toml"), {
    ...stackBindings(ctx.stack),
    VECTOR_DATABASE_URL: ctx.stack.vector.databaseUrl,
    JWT_SECRET: BENCH_JWT_SECRET,
    RATE_LIMIT_POLICIES: "[]",
  });
  const gateway = await withWorkers({ gateway: [gatewayWorker] }, ctx.log, async (urls) => {
    const url = new URL(`/api/foundation/collections/${COLLECTION}/query`, urls.gateway).href;
    return timedQueries(queries, async (q) => {
      const res = await fetch(url, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ embedding: q, k: K, efSearch: 100 }),
      });
      const body = (await res.json()) as { matches?: { id: string }[] };
      if (res.status !== 200 || !body.matches) throw new Error(`gateway query answered ${res.status} ${JSON.stringify(body)}`);
      return body.matches.map((m) => m.id);
    });
  });
  const rGateway = recall(gateway.ids, exact.ids);
  await deleteCollection(env, COLLECTION);

  const size = `${n.toLocaleString("en")} × ${DIM}-d clustered`;
  const fig = (name: string, unit: string, median: number, description: string, p99?: number) =>
    recordFigure({ name, unit, median: roundTo(median, 3), ...(p99 === undefined ? {} : { p99: roundTo(p99, 3) }), description });
  fig("vectors.insert.rps", "ops/s", insertRps, `records upserted per second, batches of ${BATCH}, no index yet (${size})`);
  fig("vectors.index.build.s", "s", buildS, `HNSW build (m 16, ef_construction 64) over ${size}`);
  fig("vectors.insert_indexed.rps", "ops/s", indexedRps, "records upserted per second into the indexed collection, batches of 100");
  fig("vectors.recall10.ef40", "ratio", r40, "recall@10 of HNSW (ef_search 40) against exact search, same queries");
  fig("vectors.recall10.ef100", "ratio", r100, "recall@10 of HNSW (ef_search 100) against exact search, same queries");
  fig("vectors.recall10.gateway", "ratio", rGateway, "recall@10 through the gateway (ef_search 100)");
  fig("vectors.query.exact.ms", "ms", stats(exact.ms).p50, "exact top-10 through the package, one at a time", stats(exact.ms).p99);
  fig("vectors.query.package.ms", "ms", stats(ef100.ms).p50, "HNSW top-10 (ef_search 100) through the package", stats(ef100.ms).p99);
  fig("vectors.query.package.qps", "req/s", ef100.qps, "HNSW top-10 queries per second through the package, one at a time");
  fig("vectors.query.gateway.ms", "ms", stats(gateway.ms).p50, "HNSW top-10 (ef_search 100) through the gateway", stats(gateway.ms).p99);
  fig("vectors.query.gateway.qps", "req/s", gateway.qps, "HNSW top-10 queries per second through the gateway, one at a time");
}

export default defineBench({
  name: "vectors",
  description: "pgvector (PGlite): insert and HNSW build over 100,000 × 384-d vectors, recall@10 vs exact, query latency",
  run,
});
