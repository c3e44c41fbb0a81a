export * from "./schema.ts";
export { configureNeon, createDb, withPool, type DbEnv, type HttpDb, type PoolDb } from "./client.ts";
