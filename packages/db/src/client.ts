import { Pool, neon, neonConfig } from "@neondatabase/serverless";
import { drizzle as drizzleHttp, type NeonHttpDatabase } from "drizzle-orm/neon-http";
import { drizzle as drizzleWs, type NeonDatabase } from "drizzle-orm/neon-serverless";
import * as schema from "./schema.ts";

/** Bindings a worker needs to reach Postgres: Neon in production, the local stack's endpoints in dev and tests. */
export interface DbEnv {
  DATABASE_URL: string;
  /** Local only: Neon HTTP protocol endpoint (`http://127.0.0.1:P/sql`); empty in production. */
  NEON_HTTP_ENDPOINT?: string;
  /** Local only: Neon WebSocket relay (`127.0.0.1:P/v1`); empty in production. */
  NEON_WS_PROXY?: string;
}

/** Drizzle database over Neon's HTTP protocol: one round trip per statement, no session. */
export type HttpDb = NeonHttpDatabase<typeof schema>;
/** Drizzle database over a WebSocket `Pool`: sessions and interactive transactions. */
export type PoolDb = NeonDatabase<typeof schema>;

let configuredFor: string | undefined;

/**
 * Points the Neon driver at local endpoints when the env names them; a no-op in production.
 * neonConfig is global to the isolate, and one isolate serves one env, so configuring once is enough.
 */
export function configureNeon(env: DbEnv): void {
  const key = `${env.NEON_HTTP_ENDPOINT ?? ""}|${env.NEON_WS_PROXY ?? ""}`;
  if (configuredFor === key) return;
  configuredFor = key;
  if (env.NEON_HTTP_ENDPOINT) neonConfig.fetchEndpoint = env.NEON_HTTP_ENDPOINT;
  const proxy = env.NEON_WS_PROXY;
  if (proxy) {
    neonConfig.wsProxy = (host, port) => `${proxy}?address=${host}:${port}`;
    neonConfig.useSecureWebSocket = false;
    neonConfig.pipelineTLS = false;
    neonConfig.pipelineConnect = false;
  }
}

const httpDbs = new Map<string, HttpDb>();

/**
 * Returns the drizzle HTTP client for `env.DATABASE_URL`, cached per isolate (it holds no connection).
 * @example const rows = await createDb(env).select().from(healthChecks).limit(10);
 */
export function createDb(env: DbEnv): HttpDb {
  configureNeon(env);
  let db = httpDbs.get(env.DATABASE_URL);
  if (!db) {
    db = drizzleHttp({ client: neon(env.DATABASE_URL), schema });
    httpDbs.set(env.DATABASE_URL, db);
  }
  return db;
}

/**
 * Runs `fn` with a drizzle client on a fresh WebSocket Pool and closes the pool afterwards.
 * Workers may not reuse sockets across requests, so the pool lives exactly as long as `fn`.
 * @example await withPool(env, (db) => db.transaction(async (tx) => { ... }));
 */
export async function withPool<T>(env: DbEnv, fn: (db: PoolDb) => Promise<T>): Promise<T> {
  configureNeon(env);
  const pool = new Pool({ connectionString: env.DATABASE_URL, max: 1 });
  try {
    return await fn(drizzleWs({ client: pool, schema }));
  } finally {
    await pool.end();
  }
}
