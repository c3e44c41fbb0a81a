/**
 * vitest globalSetup: two real HTTP servers on loopback that play a service's instances for the gateway's
 * routing tests, provided as `inject("upstreams")` → `{ a: "http://127.0.0.1:P1", b: "http://127.0.0.1:P2" }`.
 *
 * Each test registers instances at `<server>/<scenario>/`, so tests never share state:
 *   ANY /<scenario>/...          answers as the server's behaviour for the scenario says; by default 200 with
 *                                a JSON echo `{upstream, method, path, headers, body}`
 *   PUT /_fixture/<scenario>     sets the behaviour: `{status?, headers?, body?, hang?, reset?, then?}` (`hang`:
 *                                never answer; `reset`: close the connection without an answer; `then`: how later
 *                                requests are answered)
 *   GET /_fixture/<scenario>     → `{requests:[{at, method, path, headers, body}]}` that this server received
 */
import http from "node:http";
import type {} from "vitest";
import type { TestProject } from "vitest/node";
import { LOOPBACK } from "./ports.ts";

/** The base URLs of the two fixture servers. */
export interface UpstreamFixtureInfo {
  a: string;
  b: string;
}

declare module "vitest" {
  export interface ProvidedContext {
    upstreams: UpstreamFixtureInfo;
  }
}

/** How a fixture server answers requests of one scenario. */
interface Behaviour {
  status?: number;
  headers?: Record<string, string>;
  /** The answer's body as it is (default: a JSON echo of the request; none for 204 and 304). */
  body?: string;
  hang?: boolean;
  reset?: boolean;
  /** How the requests after the first are answered (default: the same). */
  then?: Behaviour;
}

/** A request as a fixture server received it. */
interface Seen {
  /** When it arrived (ms since the epoch). */
  at: number;
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

interface Scenario {
  behaviour: Behaviour;
  requests: Seen[];
}

const FIXTURE_PATH = /^\/_fixture\/([^/]+)$/;

function startServer(name: string): Promise<{ url: string; close: () => Promise<void> }> {
  const scenarios = new Map<string, Scenario>();
  const scenario = (key: string) => {
    let s = scenarios.get(key);
    if (!s) scenarios.set(key, (s = { behaviour: {}, requests: [] }));
    return s;
  };
  const json = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { ...headers, "content-type": "application/json", "content-length": Buffer.byteLength(text) });
    res.end(text);
  };

  const server = http.createServer({ requestTimeout: 0 }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const path = req.url ?? "/";
      const body = Buffer.concat(chunks).toString("utf8");
      const control = FIXTURE_PATH.exec(path);
      if (control?.[1]) {
        const s = scenario(control[1]);
        if (req.method === "PUT") {
          s.behaviour = JSON.parse(body || "{}") as Behaviour;
          return json(res, 200, { ok: true });
        }
        return json(res, 200, { requests: s.requests });
      }
      const s = scenario(path.split("/")[1] ?? "");
      s.requests.push({ at: Date.now(), method: req.method ?? "", path, headers: req.headers, body });
      const behaviour = s.behaviour;
      if (behaviour.then) s.behaviour = behaviour.then;
      if (behaviour.reset) return req.socket.destroy();
      if (behaviour.hang) return;
      const status = behaviour.status ?? 200;
      if (status === 204 || status === 304 || behaviour.body !== undefined) {
        res.writeHead(status, behaviour.headers);
        return res.end(status === 204 || status === 304 ? undefined : behaviour.body);
      }
      json(res, status, { upstream: name, method: req.method, path, headers: req.headers, body }, behaviour.headers);
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, LOOPBACK, () => {
      const { port } = server.address() as { port: number };
      resolve({
        url: `http://${LOOPBACK}:${port}`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}

/** Starts the two servers, provides their URLs, and stops them after the run. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const [a, b] = await Promise.all([startServer("a"), startServer("b")]);
  project.provide("upstreams", { a: a.url, b: b.url });
  return async () => {
    await Promise.all([a.close(), b.close()]);
  };
}
