/**
 * The worker on the far side of a hop (bench `hops`): a Hono hello-world that answers over HTTP (its default
 * `fetch`), and over JS RPC through `Hop`, three ways, so each way of calling another worker is measured against the
 * same work.
 */
import { WorkerEntrypoint } from "cloudflare:workers";
import { Hono } from "hono";

const app = new Hono();

app.get("/*", (c) => c.json({ hello: "world" }));

/** A request or response carried over RPC as plain data: what HTTP semantics need without `Request`/`Response` objects. */
export interface PlainMessage {
  status: number;
  headers: [string, string][];
  body: string;
}

const HELLO = JSON.stringify({ hello: "world" });

/** JS RPC entry points; a caller binds `{ service: "bench-hop-callee", entrypoint: "Hop" }`. */
export class Hop extends WorkerEntrypoint {
  /** The floor of RPC: a method call that returns a constant, no HTTP handling on this side. */
  constant(): PlainMessage {
    return { status: 200, headers: [["content-type", "application/json"]], body: HELLO };
  }

  /** The request as plain data: the app handles a `Request` built from it, and its answer goes back as plain data. */
  async plain(method: string, url: string, headers: [string, string][]): Promise<PlainMessage> {
    const res = await app.fetch(new Request(url, { method, headers }), this.env, this.ctx);
    return { status: res.status, headers: [...res.headers], body: await res.text() };
  }

  /** The `Request` itself passed, the app's `Response` returned (RPC carries both, body as a stream). */
  request(req: Request): Promise<Response> {
    return Promise.resolve(app.fetch(req, this.env, this.ctx));
  }
}

export default app;
