/**
 * @foundation/vectors: vector search on pgvector — collections with a fixed dimension and metric, an HNSW index per
 * collection, batched upserts, metadata filters and nearest-neighbour queries. See docs/vectors.md.
 */
export { embeddingProviderOf, DEFAULT_EMBEDDING_MODEL, workersAiEmbeddings, type AiBinding, type EmbeddingProvider } from "./embeddings.ts";
export { indexEvents, type EventRecord, type IndexableEvent } from "./events.ts";
export { compileWhere, FilterError, MAX_FILTER_CONDITIONS, MAX_IN_VALUES, type FilterScalar, type Where } from "./filter.ts";
export {
  CollectionInput,
  CollectionName,
  Embedding,
  MAX_K,
  MAX_UPSERT_RECORDS,
  QueryInput,
  RecordId,
  RecordInput,
  Selection,
  UpsertBody,
  type Collection,
  type Match,
  type VectorRecord,
} from "./model.ts";
export {
  buildIndex,
  countRecords,
  createCollection,
  deleteCollection,
  deleteRecords,
  getCollection,
  getRecords,
  INDEX_BUILD_TIMEOUT_MS,
  listCollections,
  queryCollection,
  upsertRecords,
  vectorDb,
  type Search,
  type VectorEnv,
} from "./store.ts";
