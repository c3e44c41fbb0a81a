export * from "./schema.ts";
export {
  configureNeon,
  createDb,
  databaseTimeoutMs,
  DEFAULT_DATABASE_TIMEOUT_MS,
  withPool,
  type DbEnv,
  type HttpDb,
  type PoolDb,
} from "./client.ts";
