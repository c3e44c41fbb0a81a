import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { HttpProblem, jsonBodiesOnly, requireAuth, validationProblem } from "@foundation/service-kit";
import {
  CollectionInput,
  CollectionName,
  countRecords,
  createCollection,
  deleteCollection,
  deleteRecords,
  embeddingProviderOf,
  getCollection,
  getRecords,
  listCollections,
  MAX_UPSERT_RECORDS,
  QueryInput,
  queryCollection,
  RecordId,
  Selection,
  UpsertBody,
  upsertRecords,
  type AiBinding,
} from "@foundation/vectors";
import type { GatewayEnv } from "../env.ts";

const Collection = z
  .object({
    name: z.string(),
    dimension: z.number(),
    metric: z.enum(["cosine", "l2", "ip"]),
    hnsw: z.object({ m: z.number(), efConstruction: z.number() }),
    createdAt: z.string(),
  })
  .openapi("VectorCollection");
const VectorRecord = z
  .object({ id: z.string(), embedding: z.array(z.number()), document: z.string().nullable(), metadata: z.record(z.string(), z.unknown()) })
  .openapi("VectorRecord");
const Match = z
  .object({
    id: z.string(),
    distance: z.number().openapi({ description: "Under the collection's metric, smaller is nearer (`ip`: the negative inner product)" }),
    document: z.string().nullable(),
    metadata: z.record(z.string(), z.unknown()),
    embedding: z.array(z.number()).optional(),
  })
  .openapi("VectorMatch");

const Params = z.object({ name: CollectionName });
const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { "application/json": { schema } } });
const body = <T extends z.ZodType>(schema: T) => ({ body: { content: { "application/json": { schema } }, required: true } });
const bearer = [{ bearer: [] }];
const unknown = { description: "No such collection (problem+json)" };
const invalid = { description: "Malformed input, a malformed filter or an embedding of another dimension; nothing written (problem+json)" };

const createRouteDef = createRoute({
  method: "post",
  path: "/",
  summary: "Create a vector collection with a fixed dimension and metric, and its HNSW index (admin)",
  security: bearer,
  request: body(CollectionInput),
  responses: { 201: json(Collection, "Created"), 400: invalid, 409: { description: "The name is taken" } },
});
const listRoute = createRoute({
  method: "get",
  path: "/",
  summary: "Every vector collection",
  security: bearer,
  responses: { 200: json(z.object({ collections: z.array(Collection) }), "The collections, by name") },
});
const getRoute = createRoute({
  method: "get",
  path: "/{name}",
  summary: "A collection and its record count",
  security: bearer,
  request: { params: Params },
  responses: { 200: json(Collection.extend({ count: z.number() }), "The collection"), 404: unknown },
});
const deleteRoute = createRoute({
  method: "delete",
  path: "/{name}",
  summary: "Delete a collection with its records and index (admin)",
  security: bearer,
  request: { params: Params },
  responses: { 204: { description: "Deleted" }, 404: unknown },
});
const upsertRoute = createRoute({
  method: "post",
  path: "/{name}/records",
  summary: `Insert or replace up to ${MAX_UPSERT_RECORDS} records by id, in one statement (publish scope)`,
  security: bearer,
  request: { params: Params, ...body(UpsertBody) },
  responses: { 200: json(z.object({ upserted: z.number() }), "Written"), 400: invalid, 404: unknown },
});
const getRecordRoute = createRoute({
  method: "get",
  path: "/{name}/records/{id}",
  summary: "One record by id",
  security: bearer,
  request: { params: Params.extend({ id: RecordId }) },
  responses: { 200: json(VectorRecord, "The record"), 404: { description: "No such collection or record" } },
});
const getRecordsRoute = createRoute({
  method: "post",
  path: "/{name}/records/get",
  summary: "Records by id, in the order asked; ids without a record are left out",
  security: bearer,
  request: { params: Params, ...body(z.object({ ids: z.array(RecordId).min(1).max(MAX_UPSERT_RECORDS) })) },
  responses: { 200: json(z.object({ records: z.array(VectorRecord) }), "The records"), 404: unknown },
});
const deleteRecordsRoute = createRoute({
  method: "post",
  path: "/{name}/records/delete",
  summary: "Delete records by id, or those a metadata filter matches (publish scope)",
  security: bearer,
  request: { params: Params, ...body(Selection) },
  responses: { 200: json(z.object({ deleted: z.number() }), "Deleted"), 400: invalid, 404: unknown },
});
const countRoute = createRoute({
  method: "post",
  path: "/{name}/count",
  summary: "How many records a collection holds, or how many a metadata filter matches",
  security: bearer,
  request: { params: Params, ...body(z.object({ where: z.record(z.string(), z.unknown()).optional() })) },
  responses: { 200: json(z.object({ count: z.number() }), "The count"), 400: invalid, 404: unknown },
});
const queryRoute = createRoute({
  method: "post",
  path: "/{name}/query",
  summary: "The k records nearest to an embedding (or a text, with Workers AI) among those a metadata filter matches",
  description:
    "Filters: `{field: value}`, `$eq $ne $in $nin $gt $gte $lt $lte`, `$and`, `$or`. `efSearch` trades speed for recall; `exact` scans every record.",
  security: bearer,
  request: { params: Params, ...body(QueryInput) },
  responses: {
    200: json(z.object({ matches: z.array(Match) }), "Nearest first"),
    400: invalid,
    404: unknown,
    501: { description: "A text query where no embedding provider exists (local development: give an embedding)" },
  },
});

const defaultHook = (result: { success: boolean; error?: unknown; target?: string }) => {
  if (!result.success) throw validationProblem(result.error as Parameters<typeof validationProblem>[0], result.target);
};

/** `/api/foundation/collections`: vector collections. Admins create and delete them; `publish` writes records; any caller reads. */
export const collectionsRoutes = new OpenAPIHono<GatewayEnv>({ defaultHook });
collectionsRoutes.use(jsonBodiesOnly());
const admin = requireAuth({ anyOf: ["admin"] });
const publish = requireAuth({ anyOf: ["publish"] });
collectionsRoutes.post("/", admin);
collectionsRoutes.delete("/:name", admin);
collectionsRoutes.post("/:name/records", publish);
collectionsRoutes.post("/:name/records/delete", publish);
collectionsRoutes.use(requireAuth());

collectionsRoutes.openapi(createRouteDef, async (c) => c.json(await createCollection(c.env, c.req.valid("json")), 201));
collectionsRoutes.openapi(listRoute, async (c) => c.json({ collections: await listCollections(c.env) }, 200));
collectionsRoutes.openapi(getRoute, async (c) => c.json(await getCollection(c.env, c.req.valid("param").name), 200));
collectionsRoutes.openapi(deleteRoute, async (c) => {
  await deleteCollection(c.env, c.req.valid("param").name);
  return c.body(null, 204);
});
collectionsRoutes.openapi(upsertRoute, async (c) =>
  c.json(await upsertRecords(c.env, c.req.valid("param").name, c.req.valid("json").records), 200),
);
collectionsRoutes.openapi(getRecordRoute, async (c) => {
  const { name, id } = c.req.valid("param");
  const [record] = await getRecords(c.env, name, [id]);
  if (!record)
    throw new HttpProblem(404, {
      slug: "unknown-record",
      detail: `Collection ${JSON.stringify(name)} has no record ${JSON.stringify(id)}.`,
    });
  return c.json(record, 200);
});
collectionsRoutes.openapi(getRecordsRoute, async (c) =>
  c.json({ records: await getRecords(c.env, c.req.valid("param").name, c.req.valid("json").ids) }, 200),
);
collectionsRoutes.openapi(deleteRecordsRoute, async (c) =>
  c.json(await deleteRecords(c.env, c.req.valid("param").name, c.req.valid("json")), 200),
);
collectionsRoutes.openapi(countRoute, async (c) =>
  c.json({ count: await countRecords(c.env, c.req.valid("param").name, c.req.valid("json").where) }, 200),
);
collectionsRoutes.openapi(queryRoute, async (c) => {
  const q = QueryInput.parse(c.req.valid("json"));
  let embedding = q.embedding;
  if (!embedding) {
    const provider = embeddingProviderOf(c.env as { AI?: AiBinding });
    if (!provider) {
      throw new HttpProblem(501, {
        slug: "embedding-unavailable",
        detail: "This gateway has no embedding provider (Workers AI, `env.AI`, production only): give an `embedding` instead of `text`.",
      });
    }
    [embedding] = await provider.embed([q.text ?? ""]);
  }
  const matches = await queryCollection(c.env, c.req.valid("param").name, {
    embedding: embedding ?? [],
    k: q.k,
    where: q.where,
    efSearch: q.efSearch,
    exact: q.exact,
    includeEmbedding: q.include?.embedding,
  });
  return c.json({ matches }, 200);
});
