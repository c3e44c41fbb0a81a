import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { apiKeys, createDb } from "@foundation/db";
import {
  ADMIN_SCOPE,
  errorFields,
  forgetApiKey,
  generateApiKey,
  HttpProblem,
  jsonBodiesOnly,
  rememberApiKeyPrefix,
  requireAuth,
} from "@foundation/service-kit";
import { and, desc, eq, isNull } from "drizzle-orm";
import type { Context } from "hono";
import type { GatewayEnv } from "../env.ts";

/** Scope names a key may hold; `admin` is never granted to a key (admin work needs a token from the identity provider). */
const Scope = z
  .string()
  .regex(/^[a-z0-9:._-]{1,64}$/)
  .refine((s) => s !== ADMIN_SCOPE, { message: "API keys cannot hold the admin scope" });

const ApiKeyRequest = z
  .object({
    name: z.string().trim().min(1).max(100).describe("What the key is for, e.g. `ai-monitor → billing`"),
    subject: z
      .string()
      .regex(/^[a-z0-9-]{1,64}$/)
      .describe("The identity the key acts as (like a token's `sub`), usually the calling service's name"),
    scopes: z.array(Scope).min(1).max(16),
    expiresInDays: z.number().int().min(1).max(366).optional(),
  })
  .strict()
  .openapi("ApiKeyRequest");

const ApiKeyView = z
  .object({
    id: z.string(),
    name: z.string(),
    subject: z.string(),
    scopes: z.array(z.string()),
    prefix: z.string().describe("The key's public part (`fnd_<prefix>_…`), to recognise it in lists and logs"),
    createdBy: z.string(),
    createdAt: z.string(),
    expiresAt: z.string().nullable(),
    revokedAt: z.string().nullable(),
  })
  .openapi("ApiKey");

const CreatedApiKey = ApiKeyView.extend({ key: z.string().describe("The key itself; shown this once, never stored") }).openapi(
  "CreatedApiKey",
);

const createKeyRoute = createRoute({
  method: "post",
  path: "/",
  summary: "Create an API key for service-to-service calls; the key is in this answer only (admin)",
  security: [{ bearer: [] }],
  request: { body: { content: { "application/json": { schema: ApiKeyRequest } }, required: true } },
  responses: { 201: { description: "Created", content: { "application/json": { schema: CreatedApiKey } } } },
});

const listKeysRoute = createRoute({
  method: "get",
  path: "/",
  summary: "Every API key, newest first, without the keys (admin)",
  security: [{ bearer: [] }],
  responses: { 200: { description: "The keys", content: { "application/json": { schema: z.object({ apiKeys: z.array(ApiKeyView) }) } } } },
});

const revokeKeyRoute = createRoute({
  method: "delete",
  path: "/{id}",
  summary: "Revoke an API key; every gateway isolate refuses it within 30 s (admin)",
  security: [{ bearer: [] }],
  request: { params: z.object({ id: z.uuid() }) },
  responses: { 204: { description: "Revoked (also when it already was)" }, 404: { description: "No such key" } },
});

type Row = typeof apiKeys.$inferSelect;

function view(row: Row): z.infer<typeof ApiKeyView> {
  return {
    id: row.id,
    name: row.name,
    subject: row.subject,
    scopes: row.scopes,
    prefix: row.prefix,
    createdBy: row.createdBy,
    createdAt: row.createdAt.toISOString(),
    expiresAt: row.expiresAt?.toISOString() ?? null,
    revokedAt: row.revokedAt?.toISOString() ?? null,
  };
}

/** Runs a key-store statement; an unreachable store is a 503 the client may retry, and nothing half-done. */
async function store<T>(c: Context<GatewayEnv>, what: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    c.var.log.error(`${what} failed`, errorFields(err));
    throw new HttpProblem(503, {
      slug: "storage-unavailable",
      detail: `The key store is unavailable (${what}); retry.`,
      headers: { "Retry-After": "1" },
    });
  }
}

/** `/api/foundation/api-keys`: API keys for service-to-service calls, stored hashed (admin only). */
export const apiKeysRoutes = new OpenAPIHono<GatewayEnv>();
apiKeysRoutes.use(jsonBodiesOnly());
apiKeysRoutes.use(requireAuth({ anyOf: [ADMIN_SCOPE] }));

apiKeysRoutes.openapi(createKeyRoute, async (c) => {
  const input = c.req.valid("json");
  const { key, prefix, hash } = await generateApiKey();
  const expiresAt = input.expiresInDays ? new Date(Date.now() + input.expiresInDays * 86_400_000) : null;
  const [row] = await store(c, "creating the key", () =>
    createDb(c.env)
      .insert(apiKeys)
      .values({
        id: crypto.randomUUID(),
        name: input.name,
        subject: input.subject,
        scopes: input.scopes,
        prefix,
        hash,
        createdBy: c.var.auth.subject,
        expiresAt,
      })
      .returning(),
  );
  if (!row) throw new HttpProblem(503, { slug: "storage-unavailable", detail: "The key was not stored; retry." });
  rememberApiKeyPrefix(prefix);
  c.var.log.info("api key created", { keyId: row.id, prefix, subject: row.subject, scopes: row.scopes });
  return c.json({ ...view(row), key }, 201);
});

apiKeysRoutes.openapi(listKeysRoute, async (c) => {
  const rows = await store(c, "listing keys", () => createDb(c.env).select().from(apiKeys).orderBy(desc(apiKeys.createdAt)).limit(1000));
  return c.json({ apiKeys: rows.map(view) }, 200);
});

apiKeysRoutes.openapi(revokeKeyRoute, async (c) => {
  const { id } = c.req.valid("param");
  const db = createDb(c.env);
  const revoked = await store(c, "revoking the key", () =>
    db
      .update(apiKeys)
      .set({ revokedAt: new Date() })
      .where(and(eq(apiKeys.id, id), isNull(apiKeys.revokedAt)))
      .returning({ hash: apiKeys.hash }),
  );
  if (revoked[0]) {
    forgetApiKey(revoked[0].hash);
    c.var.log.info("api key revoked", { keyId: id });
    return c.body(null, 204);
  }
  const [existing] = await store(c, "reading the key", () =>
    db.select({ id: apiKeys.id }).from(apiKeys).where(eq(apiKeys.id, id)).limit(1),
  );
  if (!existing) throw new HttpProblem(404, { slug: "unknown-api-key", detail: `No API key ${id}.` });
  return c.body(null, 204);
});
