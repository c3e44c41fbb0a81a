/**
 * The calling side of a hop (bench `hops`): the smallest Hono worker that answers every request by calling the
 * hello-world in `hop-callee.ts` one way, chosen by its `MODE` binding:
 *
 * - `fetch`: forwards a new `Request` over the service binding, as the gateway and the minimal proxy do;
 * - `rpc-constant`: a JS RPC call that returns a constant (`Hop.constant`);
 * - `rpc-plain`: the request as plain data over RPC, the app run on the far side (`Hop.plain`);
 * - `rpc-request`: the `Request` passed over RPC, the app's `Response` returned (`Hop.request`);
 * - `inline`: the callee's app bundled into this worker and called in this isolate (`app.fetch`), no second worker.
 */
import { Hono } from "hono";
import callee, { type PlainMessage } from "./hop-callee.ts";

export type HopMode = "fetch" | "rpc-constant" | "rpc-plain" | "rpc-request" | "inline";

interface HopRpc {
  constant(): Promise<PlainMessage>;
  plain(method: string, url: string, headers: [string, string][]): Promise<PlainMessage>;
  request(req: Request): Promise<Response>;
}

interface Bindings {
  MODE: HopMode;
  /** The callee's default entry (HTTP). */
  CALLEE: { fetch(req: Request): Promise<Response> };
  /** The callee's `Hop` entry point (RPC). */
  HOP: HopRpc;
}

const app = new Hono<{ Bindings: Bindings }>();

const plainResponse = (m: PlainMessage) => new Response(m.body, { status: m.status, headers: m.headers });

app.all("/*", async (c) => {
  const incoming = c.req.raw;
  const target = `https://callee.internal${new URL(incoming.url).pathname}`;
  switch (c.env.MODE) {
    case "fetch":
      return c.env.CALLEE.fetch(new Request(target, incoming));
    case "rpc-constant":
      return plainResponse(await c.env.HOP.constant());
    case "rpc-plain":
      return plainResponse(await c.env.HOP.plain(incoming.method, target, [...incoming.headers]));
    case "rpc-request":
      return c.env.HOP.request(new Request(target, incoming));
    case "inline":
      return callee.fetch(new Request(target, incoming));
  }
});

export default app;
