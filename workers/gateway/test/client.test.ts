import { SELF } from "cloudflare:test";
import { createFoundationClient, FoundationError, unwrap } from "@foundation/client";
import { describe, expect, it } from "vitest";
import { token } from "./auth.ts";

/** The typed client over the gateway itself, as a worker with a service binding to the gateway would use it. */
const clientFor = (scope: string, sub?: string) =>
  createFoundationClient({
    baseUrl: "http://gw.test",
    token: () => token(scope, sub),
    correlationId: "client-test",
    fetch: (request) => SELF.fetch(request),
  });

describe("@foundation/client", () => {
  it("publishes and replays events with typed paths, parameters and bodies", async () => {
    const stream = `client.${crypto.randomUUID().slice(0, 8)}`;
    const publisher = clientFor("publish");
    const accepted = unwrap(
      await publisher.POST("/api/foundation/events/{stream}", {
        params: { path: { stream } },
        body: { type: "client.tested", data: { n: 1 } },
      }),
    );
    expect(accepted.duplicate).toBe(false);
    const replay = unwrap(await clientFor("read").GET("/api/foundation/events/{stream}", { params: { path: { stream }, query: {} } }));
    expect(replay.events).toHaveLength(1);
    expect(replay.events[0]).toMatchObject({ id: accepted.id, type: "client.tested", correlationid: "client-test" });
  });

  it("registers a service and finds it", async () => {
    const name = `client-${crypto.randomUUID().slice(0, 8)}`;
    const svc = clientFor("service", name);
    const created = unwrap(
      await svc.POST("/api/foundation/services", { body: { name, url: `https://${name}.example.com/`, version: "1.0.0", ttlSeconds: 60 } }),
    );
    const found = unwrap(await svc.GET("/api/foundation/services/{name}", { params: { path: { name }, query: {} } }));
    expect(found.instances.map((i) => i.id)).toEqual([created.instanceId]);
  });

  it("turns an error answer into a FoundationError carrying the problem document", async () => {
    const call = clientFor("read").POST("/api/foundation/events/{stream}", {
      params: { path: { stream: "client.refused" } },
      body: { type: "t", data: {} },
    });
    const err = await call.then(unwrap).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FoundationError);
    expect(err).toMatchObject({ status: 403, problem: { status: 403, correlationId: "client-test" } });
  });
});
