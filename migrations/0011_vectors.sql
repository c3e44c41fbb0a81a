-- Vector collections need pgvector: Neon has it, PGlite has it (the local stack's vector database), Debian's
-- PostgreSQL does not. Where the extension can be installed, it is, and the two tables are created; elsewhere
-- this migration does nothing and @foundation/vectors answers 503 `pgvector-unavailable`. Each collection's HNSW
-- index is created with the collection (a partial index on its rows, cast to its dimension), not here.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
    CREATE EXTENSION IF NOT EXISTS vector;
    CREATE TABLE IF NOT EXISTS "vector_collections" (
      "id" integer PRIMARY KEY GENERATED ALWAYS AS IDENTITY (sequence name "vector_collections_id_seq" INCREMENT BY 1 MINVALUE 1 MAXVALUE 2147483647 START WITH 1 CACHE 1),
      "name" text NOT NULL,
      "dimension" integer NOT NULL,
      "metric" text NOT NULL,
      "hnsw_m" integer DEFAULT 16 NOT NULL,
      "hnsw_ef_construction" integer DEFAULT 64 NOT NULL,
      "created_at" timestamp with time zone DEFAULT now() NOT NULL,
      CONSTRAINT "vector_collections_dimension_check" CHECK ("vector_collections"."dimension" between 1 and 2000),
      CONSTRAINT "vector_collections_metric_check" CHECK ("vector_collections"."metric" in ('cosine', 'l2', 'ip'))
    );
    CREATE TABLE IF NOT EXISTS "vector_records" (
      "collection_id" integer NOT NULL,
      "id" text NOT NULL,
      "embedding" vector NOT NULL,
      "document" text,
      "metadata" jsonb DEFAULT '{}'::jsonb NOT NULL,
      "updated_at" timestamp with time zone DEFAULT now() NOT NULL,
      CONSTRAINT "vector_records_collection_id_id_pk" PRIMARY KEY("collection_id","id"),
      CONSTRAINT "vector_records_collection_id_vector_collections_id_fk" FOREIGN KEY ("collection_id")
        REFERENCES "public"."vector_collections"("id") ON DELETE cascade ON UPDATE no action
    );
    CREATE UNIQUE INDEX IF NOT EXISTS "vector_collections_name_idx" ON "vector_collections" USING btree ("name");
  END IF;
END
$$;
