/**
 * The WebSocket half of the local Neon endpoint (`neon-endpoint.ts`): `GET /v1?address=host:port` (also /v2
 * and /) upgrades to a WebSocket whose binary frames are relayed to a TCP connection to that address, for
 * `Pool`/`Client` with `neonConfig.wsProxy = "127.0.0.1:P/v1"`. Only loopback addresses are relayed.
 */
import http from "node:http";
import net from "node:net";
import type { Duplex } from "node:stream";
import { WebSocketServer, type WebSocket } from "ws";
import { isLoopbackHost, parseAddress } from "./neon-protocol.ts";

/** The WebSocket relays of one endpoint; the HTTP server hands it its `upgrade` events. */
export interface NeonRelay {
  /** Refuses an upgrade to a bad or non-loopback address with an HTTP status, otherwise starts relaying. */
  handleUpgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Relays currently open. */
  readonly open: number;
  /** Drops the open relays (to one database port, or all): clients see their WebSocket close. */
  closeRelays(port?: number): void;
  /** Terminates every relay and stops accepting upgrades. */
  close(): void;
}

interface Relay {
  ws: WebSocket;
  tcp: net.Socket;
  port: number;
}

/** Creates the relay bookkeeping of one Neon endpoint. */
export function createNeonRelay(): NeonRelay {
  const relays = new Set<Relay>();
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });

  function relay(ws: WebSocket, target: { host: string; port: number }): void {
    const tcp = net.connect({ host: target.host.replace(/^\[|\]$/g, ""), port: target.port });
    tcp.setNoDelay(true);
    const entry = { ws, tcp, port: target.port };
    relays.add(entry);
    let closed = false;
    const finish = (code: number, reason: string) => {
      if (closed) return;
      closed = true;
      relays.delete(entry);
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close(code, reason.slice(0, 120));
      tcp.end();
      setTimeout(() => {
        tcp.destroy();
        if (ws.readyState !== ws.CLOSED) ws.terminate();
      }, 2000).unref();
    };
    // Postgres → client, pausing the TCP side while the WebSocket send buffer is large.
    tcp.on("data", (chunk) => {
      ws.send(chunk, { binary: true }, () => {
        if (tcp.isPaused() && ws.bufferedAmount < 1 << 20) tcp.resume();
      });
      if (ws.bufferedAmount >= 4 << 20) tcp.pause();
    });
    // Client → Postgres (writes before the TCP connect completes are queued by the socket).
    ws.on("message", (data: Buffer | ArrayBuffer | Buffer[]) => {
      const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      if (!tcp.write(buf)) ws.pause();
    });
    tcp.on("drain", () => ws.resume());
    tcp.on("end", () => finish(1000, "database closed the connection"));
    tcp.on("close", () => finish(1000, "database connection closed"));
    tcp.on("error", (e) => finish(1011, `database connection failed: ${e.message}`));
    ws.on("close", () => finish(1000, ""));
    ws.on("error", () => finish(1011, "websocket error"));
  }

  return {
    handleUpgrade: (req, socket, head) => {
      const reject = (status: number, message: string) => {
        socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${message}\n`);
      };
      let target: { host: string; port: number };
      try {
        const url = new URL(req.url ?? "/", "http://local");
        if (!["/v1", "/v2", "/"].includes(url.pathname))
          return reject(404, `no WebSocket route ${url.pathname}; use /v1?address=host:port`);
        const address = url.searchParams.get("address");
        if (!address) return reject(400, "missing address=host:port");
        target = parseAddress(address);
        if (!isLoopbackHost(target.host)) return reject(403, `only loopback addresses may be relayed, not ${target.host}`);
      } catch (e) {
        return reject(400, (e as Error).message);
      }
      wss.handleUpgrade(req, socket, head, (ws) => relay(ws, target));
    },
    get open() {
      return relays.size;
    },
    closeRelays: (dbPort) => {
      for (const r of [...relays]) {
        if (dbPort !== undefined && r.port !== dbPort) continue;
        relays.delete(r);
        r.tcp.destroy();
        if (r.ws.readyState === r.ws.OPEN) r.ws.close(1001, "database is stopping");
        setTimeout(() => r.ws.terminate(), 1000).unref();
      }
    },
    close: () => {
      for (const r of relays) {
        r.ws.terminate();
        r.tcp.destroy();
      }
      relays.clear();
      for (const c of wss.clients) c.terminate();
      wss.close();
    },
  };
}
