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
  /** How long one statement (or connecting a Pool) may take in ms (default {@link DEFAULT_DATABASE_TIMEOUT_MS}). */
  DATABASE_TIMEOUT_MS?: string;
}

/** The default deadline of one Postgres statement: room for a Neon compute to wake from suspend first. */
export const DEFAULT_DATABASE_TIMEOUT_MS = 5000;

/** `DATABASE_TIMEOUT_MS` when it is a positive integer, else the default (the vars schema reports a malformed value). */
export function databaseTimeoutMs(env: Pick<DbEnv, "DATABASE_TIMEOUT_MS">): number {
  const ms = Number(env.DATABASE_TIMEOUT_MS === "" ? undefined : env.DATABASE_TIMEOUT_MS);
  return Number.isInteger(ms) && ms > 0 ? ms : DEFAULT_DATABASE_TIMEOUT_MS;
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
 * Returns the drizzle HTTP client for `env.DATABASE_URL`, cached per isolate (it holds no connection). Each
 * statement has a deadline (`DATABASE_TIMEOUT_MS`) and rejects past it: a hung Postgres must not hold a request.
 * @example const rows = await createDb(env).select().from(healthChecks).limit(10);
 */
export function createDb(env: DbEnv): HttpDb {
  configureNeon(env);
  const timeoutMs = databaseTimeoutMs(env);
  const key = `${env.DATABASE_URL}|${timeoutMs}`;
  let db = httpDbs.get(key);
  if (!db) {
    // The driver spreads `fetchOptions` into the options of every fetch it makes, so this getter gives each
    // statement (or batch) a signal of its own; a fixed signal would expire once for all of them.
    const fetchOptions = {
      get signal() {
        return AbortSignal.timeout(timeoutMs);
      },
    };
    db = drizzleHttp({ client: neon(env.DATABASE_URL, { fetchOptions }), schema });
    httpDbs.set(key, db);
  }
  return db;
}

/**
 * Runs `fn` with a drizzle client on a fresh WebSocket Pool and closes the pool afterwards.
 * Workers may not reuse sockets across requests, so the pool lives exactly as long as `fn`. Connecting and
 * each query have the deadline of `DATABASE_TIMEOUT_MS`.
 * @example await withPool(env, (db) => db.transaction(async (tx) => { ... }));
 */
export async function withPool<T>(env: DbEnv, fn: (db: PoolDb) => Promise<T>): Promise<T> {
  configureNeon(env);
  const timeoutMs = databaseTimeoutMs(env);
  // query_timeout is the client's own timer: statement_timeout would need the server to answer, which a hung one does not.
  const pool = new Pool({ connectionString: env.DATABASE_URL, max: 1, connectionTimeoutMillis: timeoutMs, query_timeout: timeoutMs });
  // An idle client whose socket drops (a query that timed out, Postgres restarting) makes the pool emit "error";
  // unheard, that is an uncaught exception, and the failure has already reached `fn`'s caller.
  pool.on("error", () => undefined);
  try {
    return await fn(drizzleWs({ client: pool, schema }));
  } finally {
    await pool.end();
  }
}
