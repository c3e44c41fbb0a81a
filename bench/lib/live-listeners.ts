/**
 * Listeners for the live bench, one socket each. SSE: the sampled ones are `node:http` requests that decode every
 * frame and note the publish → receive latency of each event from the `t` its data carries; the others read the raw
 * socket and only count `id: ` lines, so that a thousand of them cost the client (on the same cores as the server)
 * as little as a client can. WebSocket: batched messages, counted the same way.
 */
import { fork, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { request, type ClientRequest } from "node:http";
import { connect } from "node:net";
import { WebSocket } from "ws";
import { resolve } from "node:path";
import { cpuSeconds } from "./process-cpu.ts";

/** What one listener saw. */
export interface ListenerStats {
  events: number;
  /** Milliseconds from publish to receipt of each event (sampled listeners only). */
  latencies: number[];
  /** When each of those events was published (ms since the epoch), in the same order. */
  publishedAt: number[];
}

/** An open listener. */
export interface Listener {
  stats: ListenerStats;
  close(): void;
}

const ID_LINE = /^id: /gm;
const PUBLISHED_AT = /"t":(\d+)/g;
const ID_BYTES = Buffer.from("id: ");
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);

const newStats = (): ListenerStats => ({ events: 0, latencies: [], publishedAt: [] });

/** Notes the latency of every event in `text` (whole frames or messages) from the `t` each one carries. */
function sampleLatencies(stats: ListenerStats, text: string, now: number): void {
  for (const m of text.matchAll(PUBLISHED_AT)) {
    stats.latencies.push(now - Number(m[1]));
    stats.publishedAt.push(Number(m[1]));
  }
}

/**
 * Opens an SSE or WebSocket connection to `url`; resolves once the server accepted it. `sample` listeners parse each
 * event's `t` for latency; the others only count events.
 */
export function openListener(url: URL, headers: Record<string, string>, sample: boolean, mode: "sse" | "ws" = "sse"): Promise<Listener> {
  if (mode === "ws") return openSocket(url, headers, sample);
  return sample ? openSampled(url, headers) : openCounter(url, headers);
}

/** How often a WebSocket listener sends `ping`: what tells the server it reads (the runtime answers `pong`). */
const PING_MS = 1000;
const EVENT_MESSAGE = Buffer.from('{"id":');

/**
 * A WebSocket listener, batched (`?batch=true`): each message is an array of `{"id", "event"}`, one per read of the
 * stream; heartbeats (objects) are not counted.
 */
function openSocket(url: URL, headers: Record<string, string>, sample: boolean): Promise<Listener> {
  const stats = newStats();
  const target = new URL(url);
  target.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  target.searchParams.set("batch", "true");
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(target, { headers, perMessageDeflate: false });
    let ping: ReturnType<typeof setInterval> | undefined;
    ws.on("unexpected-response", (_req, res) => reject(new Error(`live listener answered ${res.statusCode}`)));
    ws.on("error", reject);
    ws.on("open", () => {
      ping = setInterval(() => ws.send("ping"), PING_MS);
      resolve({
        stats,
        close: () => {
          clearInterval(ping);
          ws.terminate();
        },
      });
    });
    ws.on("close", () => clearInterval(ping));
    ws.on("message", (data: Buffer) => {
      if (data[0] !== 0x5b) return; // "[": a batch of events; a heartbeat is an object
      for (let i = data.indexOf(EVENT_MESSAGE); i !== -1; i = data.indexOf(EVENT_MESSAGE, i + EVENT_MESSAGE.length)) stats.events++;
      if (sample) sampleLatencies(stats, data.toString("utf8"), Date.now());
    });
  });
}

function openSampled(url: URL, headers: Record<string, string>): Promise<Listener> {
  const stats = newStats();
  return new Promise((resolve, reject) => {
    const req: ClientRequest = request(url, { headers: { accept: "text/event-stream", ...headers }, agent: false }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`live listener answered ${res.statusCode}`));
        res.resume();
        return;
      }
      let rest = "";
      res.on("data", (chunk: Buffer) => {
        const now = Date.now();
        const text = rest + chunk.toString("utf8");
        const end = text.lastIndexOf("\n\n");
        if (end === -1) {
          rest = text;
          return;
        }
        const complete = text.slice(0, end);
        rest = text.slice(end + 2);
        stats.events += [...complete.matchAll(ID_LINE)].length;
        sampleLatencies(stats, complete, now);
      });
      res.on("error", () => undefined);
      resolve({ stats, close: () => req.destroy() });
    });
    req.on("error", reject);
    req.end();
  });
}

/**
 * A listener on a raw socket: writes the GET itself, checks the status line, then counts `id: ` in the bytes as they
 * come (a native search). Chunked framing cannot hide one: the server writes whole frames, and "id: " occurs only in
 * id lines (the stored JSON has no space after a colon). A match split across two reads is found at the seam.
 */
function openCounter(url: URL, headers: Record<string, string>): Promise<Listener> {
  const stats = newStats();
  const head =
    `GET ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nAccept: text/event-stream\r\n` +
    Object.entries(headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join("") +
    "\r\n";
  return new Promise((resolve, reject) => {
    let status: Buffer | undefined = Buffer.alloc(0);
    // The last bytes of the previous read: an "id: " in them and the next read's first bytes straddles the two.
    const tail = Buffer.alloc(ID_BYTES.length - 1);
    let tailLength = 0;
    const onRead = (n: number, buffer: Buffer): boolean => {
      let chunk = buffer.subarray(0, n);
      if (status) {
        status = Buffer.concat([status, chunk]);
        const end = status.indexOf("\r\n\r\n");
        if (end === -1) return true;
        if (!status.subarray(0, 16).toString("latin1").startsWith("HTTP/1.1 200")) {
          reject(new Error(`live listener answered ${status.subarray(0, status.indexOf("\r\n")).toString("latin1")}`));
          socket.destroy();
          return false;
        }
        chunk = status.subarray(end + 4);
        status = undefined;
        resolve({ stats, close: () => socket.destroy() });
      }
      if (
        tailLength > 0 &&
        Buffer.concat([tail.subarray(0, tailLength), chunk.subarray(0, ID_BYTES.length - 1)]).indexOf(ID_BYTES) !== -1
      ) {
        stats.events++;
      }
      for (let i = chunk.indexOf(ID_BYTES); i !== -1; i = chunk.indexOf(ID_BYTES, i + ID_BYTES.length)) stats.events++;
      tailLength = chunk.copy(tail, 0, Math.max(0, chunk.length - tail.length));
      return true;
    };
    // Every read lands in one buffer the process reuses (the callback is synchronous): 300 MB/s of reads would
    // otherwise be 300 MB/s of garbage.
    const socket = connect({ port: Number(url.port), host: url.hostname, onread: { buffer: READ_BUFFER, callback: onRead } }, () =>
      socket.write(head),
    );
    socket.on("error", reject);
  });
}

/** Resident memory (kB) of a process, from /proc. */
export function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : 0;
}

/** What the bench tells the listener process (bench/lib/live-listener-process.ts). */
export type PoolCommand =
  | { cmd: "open"; url: string; authorizations: string[]; count: number; perSubject: number; sampleEvery: number; mode: "sse" | "ws" }
  | { cmd: "drain"; total: number; timeoutMs: number }
  | { cmd: "close" };

/** What it answers: one reply per command, `ready` once at start. */
export type PoolReply =
  | { type: "ready" | "closed" }
  | { type: "opened"; count: number }
  | { type: "stats"; counts: number[]; latencies: number[]; publishedAt: number[] }
  | { type: "error"; message: string };

/**
 * Listeners in a Node process of their own, as an audience is never in the server's process: their reading must not
 * delay the bench's publisher or the local Upstash endpoint in this process.
 */
export class ListenerPool {
  private pending: { resolve: (r: PoolReply) => void; reject: (e: Error) => void } | undefined;
  private exited: Error | undefined;

  private constructor(private readonly child: ChildProcess) {
    child.on("message", (m: PoolReply) => {
      const p = this.pending;
      this.pending = undefined;
      if (m.type === "error") p?.reject(new Error(`live listener process: ${m.message}`));
      else p?.resolve(m);
    });
    child.on("exit", (code, signal) => {
      this.exited = new Error(`the live listener process exited (${signal ?? code})`);
      this.pending?.reject(this.exited);
      this.pending = undefined;
    });
  }

  /** CPU seconds the listener process has used so far. */
  cpuSeconds(): number {
    return this.child.pid === undefined ? 0 : cpuSeconds(this.child.pid);
  }

  /** Forks the process; resolves once it is ready. */
  static async start(): Promise<ListenerPool> {
    const child = fork(resolve(import.meta.dirname, "live-listener-process.ts"), [], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    const pool = new ListenerPool(child);
    await pool.next();
    return pool;
  }

  private next(): Promise<PoolReply> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolvePromise, reject) => (this.pending = { resolve: resolvePromise, reject }));
  }

  private async call<T extends PoolReply["type"]>(command: PoolCommand, type: T): Promise<Extract<PoolReply, { type: T }>> {
    const answer = this.next();
    this.child.send(command);
    const r = await answer;
    if (r.type !== type) throw new Error(`the live listener process answered ${r.type} to ${command.cmd}`);
    return r as Extract<PoolReply, { type: T }>;
  }

  /** Opens `count` listeners (SSE or WebSocket) on `url`, `perSubject` of them per authorization; every `sampleEvery`-th records latencies. */
  async open(
    url: URL,
    authorizations: string[],
    count: number,
    perSubject: number,
    sampleEvery: number,
    mode: "sse" | "ws",
  ): Promise<number> {
    return (await this.call({ cmd: "open", url: url.href, authorizations, count, perSubject, sampleEvery, mode }, "opened")).count;
  }

  /** Waits until every listener has `total` events or `timeoutMs` passed; each listener's count, and every latency sampled. */
  async drain(total: number, timeoutMs: number): Promise<{ counts: number[]; latencies: number[]; publishedAt: number[] }> {
    const { counts, latencies, publishedAt } = await this.call({ cmd: "drain", total, timeoutMs }, "stats");
    return { counts, latencies, publishedAt };
  }

  /** Closes every listener and ends the process. */
  async stop(): Promise<void> {
    if (!this.exited) await this.call({ cmd: "close" }, "closed").catch(() => undefined);
    this.child.disconnect();
  }
}
