import { MAX_VECTOR_DIMENSION, vectorMetrics } from "@foundation/db";
import { z } from "zod";

/** A collection's name: lower-case letters, digits, `.`, `_` and `-`, as stream names. */
export const CollectionName = z.string().regex(/^[a-z0-9._-]{1,128}$/, "1 to 128 of a-z, 0-9, '.', '_', '-'");

/** What creates a collection: its name, dimension, metric and, optionally, the HNSW build parameters. */
export const CollectionInput = z.object({
  name: CollectionName,
  dimension: z.number().int().min(1).max(MAX_VECTOR_DIMENSION),
  metric: z.enum(vectorMetrics).default("cosine"),
  hnsw: z
    .object({ m: z.number().int().min(2).max(100).default(16), efConstruction: z.number().int().min(4).max(1000).default(64) })
    .optional(),
});
export type CollectionInput = z.input<typeof CollectionInput>;

/** A collection as the API shows it. */
export interface Collection {
  name: string;
  dimension: number;
  metric: (typeof vectorMetrics)[number];
  hnsw: { m: number; efConstruction: number };
  createdAt: string;
}

/** A record id: what the caller names it, e.g. an event id. */
export const RecordId = z.string().min(1).max(512);
/** An embedding: finite numbers (the collection's dimension is checked against its own). */
export const Embedding = z.array(z.number()).min(1).max(MAX_VECTOR_DIMENSION);

/** One record to upsert. */
export const RecordInput = z.object({
  id: RecordId,
  embedding: Embedding,
  document: z.string().max(1_000_000).nullish(),
  metadata: z.record(z.string().min(1).max(256), z.unknown()).nullish(),
});
export type RecordInput = z.infer<typeof RecordInput>;

/** Most records one upsert may carry. */
export const MAX_UPSERT_RECORDS = 1000;
/** The body of an upsert. */
export const UpsertBody = z.object({ records: z.array(RecordInput).min(1).max(MAX_UPSERT_RECORDS) });

/** A stored record. */
export interface VectorRecord {
  id: string;
  embedding: number[];
  document: string | null;
  metadata: Record<string, unknown>;
}

/** Most neighbours one query returns, and the largest `efSearch` (pgvector's limit). */
export const MAX_K = 1000;

/** A nearest-neighbour query: an embedding (or a text, embedded by the provider), `k`, a filter and the search knobs. */
export const QueryInput = z
  .object({
    embedding: Embedding.optional(),
    text: z.string().min(1).max(8192).optional(),
    k: z.number().int().min(1).max(MAX_K).default(10),
    where: z.record(z.string(), z.unknown()).optional(),
    efSearch: z.number().int().min(1).max(1000).optional(),
    exact: z.boolean().default(false),
    include: z.object({ embedding: z.boolean().default(false) }).optional(),
  })
  .refine((q) => (q.embedding === undefined) !== (q.text === undefined), { message: "give exactly one of embedding or text" });
export type QueryInput = z.input<typeof QueryInput>;

/** One neighbour: its id, its distance under the collection's metric (smaller is nearer), document and metadata. */
export interface Match {
  id: string;
  distance: number;
  document: string | null;
  metadata: Record<string, unknown>;
  embedding?: number[];
}

/** Which records a delete or count applies to: listed ids, or those a filter matches. */
export const Selection = z
  .object({ ids: z.array(RecordId).min(1).max(MAX_UPSERT_RECORDS).optional(), where: z.record(z.string(), z.unknown()).optional() })
  .refine((s) => s.ids === undefined || s.where === undefined, { message: "give ids or where, not both" });
export type Selection = z.infer<typeof Selection>;
