import { HttpProblem } from "@foundation/core";
import { createDb, vectorCollections, vectorRecords, type DbEnv, type HttpDb } from "@foundation/db";
import { and, eq, inArray, sql, type SQL } from "drizzle-orm";
import { compileWhere, FilterError } from "./filter.ts";
import { CollectionInput, type Collection, type Match, type RecordInput, type Selection, type VectorRecord } from "./model.ts";

/** Bindings of the vector database: `VECTOR_DATABASE_URL` when set (the local stack's PGlite), else `DATABASE_URL` (Neon). */
export interface VectorEnv extends DbEnv {
  VECTOR_DATABASE_URL?: string;
}

/** How long building a collection's HNSW index may take: a large collection takes minutes. */
export const INDEX_BUILD_TIMEOUT_MS = 900_000;

const OPERATORS = { cosine: "<=>", l2: "<->", ip: "<#>" } as const;
const OPERATOR_CLASSES = { cosine: "vector_cosine_ops", l2: "vector_l2_ops", ip: "vector_ip_ops" } as const;

/** A collection's row: what the SQL of its records needs. */
interface CollectionRow {
  id: number;
  name: string;
  dimension: number;
  metric: keyof typeof OPERATORS;
  hnswM: number;
  hnswEfConstruction: number;
  createdAt: Date;
}

/** The drizzle client of the vector database. */
export function vectorDb(env: VectorEnv, timeoutMs?: number): HttpDb {
  return createDb({
    ...env,
    DATABASE_URL: env.VECTOR_DATABASE_URL || env.DATABASE_URL,
    ...(timeoutMs ? { DATABASE_TIMEOUT_MS: String(timeoutMs) } : {}),
  });
}

/** The Postgres SQLSTATE of an error, looking through drizzle's wrapping. */
function sqlState(e: unknown): string | undefined {
  for (let c: unknown = e; c && typeof c === "object"; c = (c as { cause?: unknown }).cause) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return code;
  }
  return undefined;
}

/** Runs a statement, turning "pgvector's tables are missing" into a 503 that says so. */
async function run<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    if (sqlState(e) === "42P01" || sqlState(e) === "42704") {
      throw new HttpProblem(503, {
        slug: "pgvector-unavailable",
        detail: "The vector database has no pgvector tables: its PostgreSQL lacks the vector extension (see docs/vectors.md).",
        cause: e,
      });
    }
    throw e;
  }
}

/** An integer from our own rows, safe to place in DDL and in the text of a query (never a caller's value). */
const int = (n: number): SQL => {
  if (!Number.isSafeInteger(n)) throw new Error(`not an integer: ${n}`);
  return sql.raw(String(n));
};
const indexName = (c: CollectionRow) => sql.raw(`vector_records_hnsw_${c.id}`);
const vectorText = (v: readonly number[]) => `[${v.join(",")}]`;

const view = (c: CollectionRow): Collection => ({
  name: c.name,
  dimension: c.dimension,
  metric: c.metric,
  hnsw: { m: c.hnswM, efConstruction: c.hnswEfConstruction },
  createdAt: c.createdAt.toISOString(),
});

async function find(env: VectorEnv, name: string): Promise<CollectionRow> {
  const [row] = await run(() => vectorDb(env).select().from(vectorCollections).where(eq(vectorCollections.name, name)).limit(1));
  if (!row) throw new HttpProblem(404, { slug: "unknown-collection", detail: `There is no collection ${JSON.stringify(name)}.` });
  return row;
}

function whereSql(where: unknown): SQL {
  try {
    return compileWhere(sql`${vectorRecords.metadata}`, where);
  } catch (e) {
    if (e instanceof FilterError) {
      throw new HttpProblem(400, {
        slug: "malformed-filter",
        title: "Malformed metadata filter",
        detail: e.message,
        errors: [{ pointer: `/body/${e.pointer}`, message: e.message, code: "malformed_filter" }],
      });
    }
    throw e;
  }
}

/**
 * The DDL of a collection's HNSW index: a partial index on its rows, on the embedding cast to its dimension, with
 * the operator class of its metric. Queries order by the same expression to use it.
 */
const indexDdl = (c: CollectionRow) =>
  sql`create index if not exists ${indexName(c)} on vector_records using hnsw ((embedding::vector(${int(c.dimension)})) ${sql.raw(
    OPERATOR_CLASSES[c.metric],
  )}) with (m = ${int(c.hnswM)}, ef_construction = ${int(c.hnswEfConstruction)}) where collection_id = ${int(c.id)}`;

/**
 * Creates a collection and its HNSW index; 409 when the name is taken. `index: false` leaves the index to
 * {@link buildIndex}, the fast way to load many records (pgvector builds an index faster than it grows one).
 * @example await createCollection(env, { name: "responses", dimension: 384, metric: "cosine" });
 */
export async function createCollection(env: VectorEnv, input: CollectionInput, options: { index?: boolean } = {}): Promise<Collection> {
  const c = CollectionInput.parse(input);
  const hnsw = c.hnsw ?? { m: 16, efConstruction: 64 };
  const [row] = await run(() =>
    vectorDb(env)
      .insert(vectorCollections)
      .values({ name: c.name, dimension: c.dimension, metric: c.metric, hnswM: hnsw.m, hnswEfConstruction: hnsw.efConstruction })
      .onConflictDoNothing({ target: vectorCollections.name })
      .returning(),
  );
  if (!row) throw new HttpProblem(409, { slug: "collection-exists", detail: `A collection ${JSON.stringify(c.name)} exists already.` });
  if (options.index !== false) await vectorDb(env).execute(indexDdl(row));
  return view(row);
}

/** Builds a collection's HNSW index if it has none, with room for the graph in memory (minutes for 100,000 records). */
export async function buildIndex(env: VectorEnv, name: string): Promise<void> {
  const c = await find(env, name);
  const db = vectorDb(env, INDEX_BUILD_TIMEOUT_MS);
  await db.batch([db.execute(sql`select set_config('maintenance_work_mem', '1GB', true)`), db.execute(indexDdl(c))]);
}

/** A collection with its record count; 404 when there is none. */
export async function getCollection(env: VectorEnv, name: string): Promise<Collection & { count: number }> {
  const c = await find(env, name);
  return { ...view(c), count: await countRecords(env, name) };
}

/** Every collection, by name. */
export async function listCollections(env: VectorEnv): Promise<Collection[]> {
  const rows = await run(() => vectorDb(env).select().from(vectorCollections).orderBy(vectorCollections.name));
  return rows.map(view);
}

/** Deletes a collection, its records and its index; 404 when there is none. */
export async function deleteCollection(env: VectorEnv, name: string): Promise<void> {
  const c = await find(env, name);
  const db = vectorDb(env);
  await db.batch([
    db.execute(sql`drop index if exists ${indexName(c)}`),
    db.delete(vectorCollections).where(eq(vectorCollections.id, c.id)),
  ]);
}

/**
 * Inserts or replaces records by id (the last of one id in a batch wins) in one statement. Every embedding must
 * have the collection's dimension, or nothing is written (400 naming each record).
 * @example await upsertRecords(env, "responses", [{ id: "e1", embedding, document: "…", metadata: { brand: "acme" } }]);
 */
export async function upsertRecords(env: VectorEnv, name: string, records: readonly RecordInput[]): Promise<{ upserted: number }> {
  const c = await find(env, name);
  const wrong = records.flatMap((r, i) =>
    r.embedding.length === c.dimension
      ? []
      : [
          {
            pointer: `/body/records/${i}/embedding`,
            message: `has ${r.embedding.length} dimensions, not ${c.dimension}`,
            code: "dimension",
          },
        ],
  );
  if (wrong.length > 0) {
    throw new HttpProblem(400, {
      slug: "dimension-mismatch",
      title: "Embedding dimension mismatch",
      detail: `Collection ${JSON.stringify(name)} holds ${c.dimension}-dimensional embeddings; nothing was written.`,
      errors: wrong.slice(0, 20),
    });
  }
  const unique = [...new Map(records.map((r) => [r.id, r])).values()];
  if (unique.length === 0) return { upserted: 0 };
  await vectorDb(env)
    .insert(vectorRecords)
    .values(
      unique.map((r) => ({
        collectionId: c.id,
        id: r.id,
        embedding: sql`${vectorText(r.embedding)}::vector(${int(c.dimension)})`,
        document: r.document ?? null,
        metadata: r.metadata ?? {},
      })),
    )
    .onConflictDoUpdate({
      target: [vectorRecords.collectionId, vectorRecords.id],
      set: {
        embedding: sql`excluded.embedding`,
        document: sql`excluded.document`,
        metadata: sql`excluded.metadata`,
        updatedAt: sql`now()`,
      },
    });
  return { upserted: unique.length };
}

const recordColumns = {
  id: vectorRecords.id,
  embedding: vectorRecords.embedding,
  document: vectorRecords.document,
  metadata: vectorRecords.metadata,
};

/** The records with these ids, in the order asked (ids without a record left out). */
export async function getRecords(env: VectorEnv, name: string, ids: readonly string[]): Promise<VectorRecord[]> {
  const c = await find(env, name);
  if (ids.length === 0) return [];
  const rows = await vectorDb(env)
    .select(recordColumns)
    .from(vectorRecords)
    .where(and(eq(vectorRecords.collectionId, c.id), inArray(vectorRecords.id, [...ids])));
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.flatMap((id) => byId.get(id) ?? []);
}

const selected = (c: CollectionRow, s: Selection): SQL | undefined =>
  and(eq(vectorRecords.collectionId, c.id), s.ids ? inArray(vectorRecords.id, s.ids) : undefined, s.where ? whereSql(s.where) : undefined);

/** Deletes the listed records, or those a filter matches (every record when the selection is empty). */
export async function deleteRecords(env: VectorEnv, name: string, selection: Selection): Promise<{ deleted: number }> {
  const c = await find(env, name);
  const rows = await vectorDb(env).delete(vectorRecords).where(selected(c, selection)).returning({ id: vectorRecords.id });
  return { deleted: rows.length };
}

/** How many records a collection holds, or how many a filter matches. */
export async function countRecords(env: VectorEnv, name: string, where?: Record<string, unknown>): Promise<number> {
  const c = await find(env, name);
  const [row] = await vectorDb(env)
    .select({ n: sql<string>`count(*)` })
    .from(vectorRecords)
    .where(selected(c, where ? { where } : {}));
  return Number(row?.n ?? 0);
}

/** A nearest-neighbour search once the embedding is known. */
export interface Search {
  embedding: readonly number[];
  k: number;
  where?: Record<string, unknown> | undefined;
  efSearch?: number | undefined;
  exact?: boolean | undefined;
  includeEmbedding?: boolean | undefined;
}

/**
 * The `k` records nearest to an embedding among those a filter matches, nearest first. The HNSW index answers
 * unless `exact`; `efSearch` (default the larger of 40 and `k`) trades speed for recall, and with a filter
 * pgvector's iterative scan keeps reading the index until `k` matches are found.
 * @example const matches = await queryCollection(env, "responses", { embedding, k: 5, where: { brand: "acme" } });
 */
export async function queryCollection(env: VectorEnv, name: string, search: Search): Promise<Match[]> {
  const c = await find(env, name);
  if (search.embedding.length !== c.dimension) {
    throw new HttpProblem(400, {
      slug: "dimension-mismatch",
      title: "Embedding dimension mismatch",
      detail: `Collection ${JSON.stringify(name)} holds ${c.dimension}-dimensional embeddings, not ${search.embedding.length}.`,
    });
  }
  const filter = search.where ? whereSql(search.where) : undefined;
  const dim = int(c.dimension);
  const q = sql`${vectorText(search.embedding)}::vector(${dim})`;
  const op = sql.raw(OPERATORS[c.metric]);
  // The index is on this cast expression, so ordering by it uses the index unless index scans are off (exact).
  const distance = sql`(embedding::vector(${dim}) ${op} ${q})`;
  const embeddingColumn = search.includeEmbedding ? sql`, embedding::text as embedding` : sql``;
  const nearest = sql`select id, document, metadata, ${distance} as distance${embeddingColumn}
    from vector_records where collection_id = ${int(c.id)}${filter ? sql` and ${filter}` : sql``}
    order by ${distance} limit ${search.k}`;
  const db = vectorDb(env);
  const ef = Math.max(search.efSearch ?? 40, search.k);
  const settings = search.exact
    ? [db.execute(sql`select set_config('enable_indexscan', 'off', true)`)]
    : [
        db.execute(sql`select set_config('hnsw.ef_search', ${String(ef)}, true)`),
        ...(filter ? [db.execute(sql`select set_config('hnsw.iterative_scan', 'relaxed_order', true)`)] : []),
      ];
  // relaxed_order may return the k nearest slightly out of order: sort them again.
  const statement = db.execute(sql`select * from (${nearest}) nearest order by distance`);
  const results = await db.batch([...settings, statement] as unknown as [typeof statement]);
  const rows = (results.at(-1) as { rows: Record<string, unknown>[] }).rows;
  return rows.map((r) => ({
    id: String(r.id),
    distance: Number(r.distance),
    document: (r.document as string | null) ?? null,
    metadata: (typeof r.metadata === "string" ? JSON.parse(r.metadata) : r.metadata) as Record<string, unknown>,
    ...(search.includeEmbedding ? { embedding: JSON.parse(String(r.embedding)) as number[] } : {}),
  }));
}
