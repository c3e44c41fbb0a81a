/**
 * A Postgres wire-protocol server in front of one PGlite database, so that `pg`, drizzle's migrator and the
 * local Neon endpoint (HTTP `/sql` and the WebSocket relay) reach it like any PostgreSQL on a TCP port.
 *
 * PGlite is a single backend: one session runs every statement. Clients connect concurrently, so the
 * server hands the backend to one connection at a time and keeps it there for a whole exchange — from the
 * first message of an extended-protocol sequence (Parse, Bind, Describe, Execute) to the ReadyForQuery that
 * shows the backend idle again, across a whole explicit transaction too. `@electric-sql/pglite-socket`
 * 0.0.22 interleaves single messages of different connections instead, and one connection's Bind then meets
 * another's Parse: ten concurrent `pg` clients hang it. Connections share the one session's state, so a
 * plain `SET` or a named prepared statement is visible to the others; clients should use `SET LOCAL`.
 */
import net from "node:net";
import type { PGlite } from "@electric-sql/pglite";

/** Protocol codes of the untyped messages a client may send before the startup message completes. */
const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;

/** A connection in a transaction this long without sending anything is closed (and rolled back), as `idle_in_transaction_session_timeout`. */
const IDLE_IN_TRANSACTION_MS = 60_000;

/** Frontend messages after which the client waits for an answer: Sync, simple Query, Flush, CopyDone, CopyFail, a password. */
const EXCHANGE_ENDS = new Set(["S", "Q", "H", "c", "f", "p"]);

/** Where the wire server listens and the database it serves. */
export interface PgliteWireOptions {
  db: PGlite;
  port?: number;
  host?: string;
}

/** A running wire server. */
export interface PgliteWireServer {
  readonly port: number;
  /** Open client connections. */
  readonly connections: number;
  close(): Promise<void>;
}

/**
 * The status byte of the last ReadyForQuery ('Z') in a run of backend messages: `I` idle, `T` in a transaction,
 * `E` in a failed transaction; undefined when the run has none (an exchange ended by Flush).
 */
export function lastReadyStatus(out: Uint8Array): string | undefined {
  let status: string | undefined;
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let at = 0; at + 5 <= out.length;) {
    const length = view.getInt32(at + 1);
    if (out[at] === 0x5a && at + 5 < out.length) status = String.fromCharCode(out[at + 5]!);
    at += 1 + length;
  }
  return status;
}

/**
 * Splits complete frontend messages off `buffer`: before startup they are untyped (length, then a code), after
 * it typed (one letter, then a length). Returns the messages and the incomplete rest.
 */
export function splitMessages(buffer: Buffer, started: boolean): { messages: Buffer[]; rest: Buffer } {
  const messages: Buffer[] = [];
  let at = 0;
  for (;;) {
    const header = started ? 5 : 4;
    if (buffer.length - at < header) break;
    const size = started ? 1 + buffer.readInt32BE(at + 1) : buffer.readInt32BE(at);
    if (size < header - (started ? 1 : 0) || buffer.length - at < size) break;
    messages.push(buffer.subarray(at, at + size));
    at += size;
    if (!started) break;
  }
  return { messages, rest: buffer.subarray(at) };
}

/** Starts serving `db` on a loopback port. */
export async function startPgliteWire(opts: PgliteWireOptions): Promise<PgliteWireServer> {
  const { db } = opts;
  const sockets = new Set<net.Socket>();
  let owner: number | undefined;
  let waiters: (() => void)[] = [];
  let nextId = 1;

  const acquire = async (id: number): Promise<void> => {
    while (owner !== undefined && owner !== id) await new Promise<void>((r) => waiters.push(r));
    owner = id;
  };
  const release = (id: number): void => {
    if (owner !== id) return;
    owner = undefined;
    const woken = waiters;
    waiters = [];
    for (const w of woken) w();
  };

  const serve = (socket: net.Socket): void => {
    const id = nextId++;
    sockets.add(socket);
    socket.setNoDelay(true);
    let buffer: Buffer = Buffer.alloc(0);
    let started = false;
    let exchange: Buffer[] = [];
    let chain = Promise.resolve();
    let idleTimer: NodeJS.Timeout | undefined;

    const run = async (messages: Buffer[]): Promise<void> => {
      await acquire(id);
      clearTimeout(idleTimer);
      const outputs = await db.runExclusive(async () => {
        const out: Uint8Array[] = [];
        for (const m of messages) out.push(await db.execProtocolRaw(new Uint8Array(m.buffer, m.byteOffset, m.byteLength)));
        return out;
      });
      const reply = Buffer.concat(outputs);
      if (socket.writable && reply.length > 0) socket.write(reply);
      const status = lastReadyStatus(reply);
      if (status === "I") release(id);
      else if (status === "T" || status === "E") idleTimer = setTimeout(() => socket.destroy(), IDLE_IN_TRANSACTION_MS);
    };

    const onMessage = (message: Buffer): void => {
      if (!started) {
        const code = message.length >= 8 ? message.readInt32BE(4) : 0;
        if (code === SSL_REQUEST || code === GSSENC_REQUEST) return void socket.write("N");
        if (code === CANCEL_REQUEST) return void socket.end();
        started = true;
        chain = chain.then(() => run([message]));
        return;
      }
      const type = String.fromCharCode(message[0]!);
      if (type === "X") return void socket.end();
      exchange.push(message);
      if (EXCHANGE_ENDS.has(type)) {
        const messages = exchange;
        exchange = [];
        chain = chain.then(() => run(messages));
      }
    };

    socket.on("data", (chunk: Buffer) => {
      buffer = buffer.length ? Buffer.concat([buffer, chunk]) : chunk;
      for (;;) {
        const { messages, rest } = splitMessages(buffer, started);
        buffer = rest;
        if (messages.length === 0) break;
        for (const m of messages) onMessage(m);
      }
      chain = chain.catch(() => {
        socket.destroy();
      });
    });
    socket.on("error", () => socket.destroy());
    socket.on("close", () => {
      sockets.delete(socket);
      clearTimeout(idleTimer);
      void chain
        .catch(() => undefined)
        .then(async () => {
          // A client gone in the middle of a transaction must not leave the backend in it.
          if (owner === id && db.isInTransaction()) await db.exec("ROLLBACK").catch(() => undefined);
          release(id);
        });
    });
  };

  const server = net.createServer(serve);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 0, opts.host ?? "127.0.0.1", () => resolve());
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    get connections() {
      return sockets.size;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
