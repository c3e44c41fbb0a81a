/**
 * The vector database's process: a PGlite database with the pgvector extension, kept in a folder (or in
 * memory), served on a loopback port by `pglite-wire.ts`. `pglite-server.ts` spawns it with tsx:
 *
 *   node --import tsx pglite-main.ts --port 5441 --data /path/to/folder   # or --data memory://
 *
 * A process of its own because PGlite runs every statement on the JavaScript thread: an HNSW build would
 * otherwise stall the Upstash and Neon endpoints of the process that hosts the stack.
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { PGlite } from "@electric-sql/pglite";
import { vector } from "@electric-sql/pglite/vector";
import { startPgliteWire } from "./pglite-wire.ts";

const { values } = parseArgs({ options: { port: { type: "string" }, data: { type: "string" }, pidfile: { type: "string" } } });
const port = Number(values.port);
const data = values.data ?? "memory://";
if (!Number.isInteger(port) || port <= 0) throw new Error("--port must be a port number");

const db = await PGlite.create({ dataDir: data, extensions: { vector } });
const wire = await startPgliteWire({ db, port });
if (values.pidfile) writeFileSync(values.pidfile, `${process.pid}\n`);
console.log(`pglite ${(await db.query<{ v: string }>("select version() as v")).rows[0]?.v ?? ""} with pgvector on 127.0.0.1:${wire.port}`);

let stopping = false;
const stop = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  await wire.close();
  // Closing flushes the database to its folder; a kill without it loses what was written since the last flush.
  await db.close();
  process.exit(0);
};
process.on("SIGTERM", () => void stop());
process.on("SIGINT", () => void stop());
