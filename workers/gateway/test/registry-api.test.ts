import { env, SELF } from "cloudflare:test";
import { DIRECTORY_NAME } from "@foundation/registry";
import { beforeAll, describe, expect, it } from "vitest";
import { token } from "./auth.ts";

const BASE = "http://gw.test/api/foundation/services";
const unique = (prefix: string) => `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
const registryOf = (name: string) => env.SERVICE_REGISTRY.get(env.SERVICE_REGISTRY.idFromName(name));
const directoryNames = () => env.SERVICE_DIRECTORY.get(env.SERVICE_DIRECTORY.idFromName(DIRECTORY_NAME)).names();

function call(
  method: string,
  path: string,
  bearer: string | undefined,
  body?: unknown,
  contentType = "application/json",
): Promise<Response> {
  const headers: Record<string, string> = bearer ? { authorization: `Bearer ${bearer}` } : {};
  if (body !== undefined) headers["content-type"] = contentType;
  return SELF.fetch(`${BASE}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
}

interface InstanceView {
  id: string;
  url?: string;
  binding?: string;
  status: string;
  output: string | null;
  lastHeartbeatAt: string;
  version: string;
  metadata: Record<string, string>;
}

describe("registry HTTP API", () => {
  it("registers, lists, looks up, heartbeats and deregisters an instance", async () => {
    const name = unique("payments");
    const svc = await token("service", name);
    const reader = await token("read", "dashboard");

    const created = await call("POST", "", svc, {
      name,
      url: "https://payments.example.com/v2",
      version: "3.1.0",
      metadata: { region: "eu" },
      ttlSeconds: 3600,
    });
    expect(created.status).toBe(201);
    const { instanceId, heartbeatIntervalSeconds } = await created.json<{ instanceId: string; heartbeatIntervalSeconds: number }>();
    expect(heartbeatIntervalSeconds).toBe(1200);

    const one = await call("GET", `/${name}`, reader);
    expect(one.status).toBe(200);
    const service = await one.json<{ name: string; instances: InstanceView[] }>();
    expect(service).toEqual({
      name,
      instances: [
        expect.objectContaining({
          id: instanceId,
          url: "https://payments.example.com/v2",
          status: "passing",
          version: "3.1.0",
          metadata: { region: "eu" },
        }),
      ],
    });
    expect(Date.parse(service.instances[0]!.lastHeartbeatAt)).toBeGreaterThan(Date.now() - 60_000);

    const all = await (await call("GET", "", reader)).json<{ services: { name: string; instances: InstanceView[] }[] }>();
    expect(all.services.find((s) => s.name === name)?.instances.map((i) => i.id)).toEqual([instanceId]);

    const beat = await call("PUT", `/${name}/instances/${instanceId}/heartbeat`, svc, { status: "critical", output: "disk full" });
    expect(beat.status).toBe(200);
    expect(await beat.json()).toMatchObject({ id: instanceId, status: "critical", output: "disk full", heartbeatIntervalSeconds: 1200 });
    expect((await (await call("GET", `/${name}?passing=true`, reader)).json<{ instances: unknown[] }>()).instances).toEqual([]);

    const empty = await call("PUT", `/${name}/instances/${instanceId}/heartbeat`, svc);
    expect(empty.status).toBe(200);
    expect((await (await call("GET", `/${name}?passing=true`, reader)).json<{ instances: unknown[] }>()).instances).toHaveLength(1);

    expect((await call("DELETE", `/${name}/instances/${instanceId}`, svc)).status).toBe(204);
    expect((await (await call("GET", `/${name}`, reader)).json<{ instances: unknown[] }>()).instances).toEqual([]);
    expect((await call("DELETE", `/${name}/instances/${instanceId}`, svc)).status).toBe(404);
  });

  it("accepts an admin token for any service, a binding the gateway has, and a loopback http URL in local mode", async () => {
    const admin = await token("admin", "ops");
    const name = unique("admin-managed");
    expect((await call("POST", "", admin, { name, binding: "EXAMPLE", version: "1.0.0", ttlSeconds: 3600 })).status).toBe(201);
    expect((await call("POST", "", admin, { name, url: "http://127.0.0.1:9/", version: "1.0.0", ttlSeconds: 3600 })).status).toBe(201);
    const { instances } = await (await call("GET", `/${name}`, admin)).json<{ instances: InstanceView[] }>();
    expect(instances.map((i) => i.binding ?? i.url).sort()).toEqual(["EXAMPLE", "http://127.0.0.1:9/"]);
  });
});

describe("registry HTTP API: bindings", () => {
  it("lets a service token register only its own service's binding (another service's worker is refused with 403)", async () => {
    const example = await token("service", "example");
    const stranger = unique("stranger");
    const own = await call("POST", "", example, { name: "example", binding: "EXAMPLE", version: "1.0.0", ttlSeconds: 60 });
    expect(own.status).toBe(201);
    const { instanceId } = await own.json<{ instanceId: string }>();
    expect((await call("DELETE", `/example/instances/${instanceId}`, example)).status).toBe(204);
    const hijack = await call("POST", "", await token("service", stranger), { name: stranger, binding: "EXAMPLE", version: "1.0.0" });
    expect(hijack.status).toBe(403);
    expect((await hijack.json<{ type: string }>()).type).toBe("/problems/forbidden-binding");
    expect((await call("GET", `/${stranger}`, await token("read"))).status).toBe(200);
    expect((await (await call("GET", `/${stranger}`, await token("read"))).json<{ instances: unknown[] }>()).instances).toEqual([]);
  });
});

describe("registry HTTP API: every bad input gets a 4xx problem and changes nothing", () => {
  const name = unique("guarded");
  /** Tokens of this service, of another service, and without the service scope; filled before the tests run. */
  const t = { svc: "", other: "", read: "" };
  let instanceId = "";

  beforeAll(async () => {
    t.svc = await token("service", name);
    t.other = await token("service", `not-${name}`);
    t.read = await token("read", name);
    const res = await call("POST", "", t.svc, { name, url: `https://${name}.example.com/`, version: "1.0.0", ttlSeconds: 3600 });
    instanceId = (await res.json<{ instanceId: string }>()).instanceId;
  });

  const reg = (extra: Record<string, unknown>) => ({ name, url: `https://other.${name}.example.com/`, version: "1.0.0", ...extra });
  type Case = [label: string, status: number, request: () => Promise<Response>];
  const cases: Case[] = [
    ["malformed JSON", 400, () => call("POST", "", t.svc, '{"name":')],
    ["a form body (wrong content type)", 415, () => call("POST", "", t.svc, `name=${name}`, "application/x-www-form-urlencoded")],
    ["an unknown field (role)", 400, () => call("POST", "", t.svc, reg({ role: "admin" }))],
    ["a caller-chosen id (mass assignment)", 400, () => call("POST", "", t.svc, reg({ id: crypto.randomUUID() }))],
    ["a tenantId field", 400, () => call("POST", "", t.svc, reg({ tenantId: "t1" }))],
    ["an invalid service name", 400, () => call("POST", "", t.svc, reg({ name: "Bad_Name" }))],
    ["a TTL of 0 s", 400, () => call("POST", "", t.svc, reg({ ttlSeconds: 0 }))],
    ["a TTL above 1 h", 400, () => call("POST", "", t.svc, reg({ ttlSeconds: 3601 }))],
    ["a negative TTL", 400, () => call("POST", "", t.svc, reg({ ttlSeconds: -5 }))],
    ["a TTL given as a string", 400, () => call("POST", "", t.svc, reg({ ttlSeconds: "30" }))],
    ["no url or binding", 400, () => call("POST", "", t.svc, { name, version: "1.0.0" })],
    ["both url and binding", 400, () => call("POST", "", t.svc, reg({ binding: "EXAMPLE" }))],
    ["the cloud metadata address (SSRF)", 400, () => call("POST", "", t.svc, reg({ url: "http://169.254.169.254/latest/meta-data/" }))],
    ["a private address (SSRF)", 400, () => call("POST", "", t.svc, reg({ url: "https://10.0.0.7/" }))],
    ["IPv4-mapped loopback (SSRF)", 400, () => call("POST", "", t.svc, reg({ url: "https://[::ffff:127.0.0.1]/" }))],
    ["plain http to a public host", 400, () => call("POST", "", t.svc, reg({ url: "http://example.com/" }))],
    ["a binding that is a Durable Object namespace", 400, () => call("POST", "", t.svc, reg({ url: undefined, binding: "RATE_LIMITER" }))],
    ["a binding that is a secret", 400, () => call("POST", "", t.svc, reg({ url: undefined, binding: "JWT_SECRET" }))],
    ["no token", 401, () => call("POST", "", undefined, reg({}))],
    ["a token without the service scope", 403, () => call("POST", "", t.read, reg({}))],
    ["another service's token (BOLA)", 403, () => call("POST", "", t.other, reg({}))],
    ["a heartbeat with an unknown status", 400, () => call("PUT", `/${name}/instances/${instanceId}/heartbeat`, t.svc, { status: "dead" })],
    [
      "a heartbeat with an unknown field",
      400,
      () => call("PUT", `/${name}/instances/${instanceId}/heartbeat`, t.svc, { status: "passing", ttlSeconds: 3600 }),
    ],
    [
      "a heartbeat with a 5,000-character output",
      400,
      () => call("PUT", `/${name}/instances/${instanceId}/heartbeat`, t.svc, { output: "x".repeat(5000) }),
    ],
    ["a heartbeat for a malformed instance id", 400, () => call("PUT", `/${name}/instances/not-a-uuid/heartbeat`, t.svc, {})],
    ["a heartbeat for an unknown instance", 404, () => call("PUT", `/${name}/instances/${crypto.randomUUID()}/heartbeat`, t.svc, {})],
    ["a heartbeat without a token", 401, () => call("PUT", `/${name}/instances/${instanceId}/heartbeat`, undefined, {})],
    ["a heartbeat with another service's token", 403, () => call("PUT", `/${name}/instances/${instanceId}/heartbeat`, t.other, {})],
    ["a deregistration with another service's token", 403, () => call("DELETE", `/${name}/instances/${instanceId}`, t.other)],
    ["a deregistration of an unknown instance", 404, () => call("DELETE", `/${name}/instances/${crypto.randomUUID()}`, t.svc)],
    ["a lookup with an invalid name", 400, () => call("GET", "/NOT_A_NAME", t.svc)],
    ["a lookup without a token", 401, () => call("GET", `/${name}`, undefined)],
    ["a listing with a token in the query string", 401, () => SELF.fetch(`${BASE}?access_token=${t.svc}`)],
  ];
  it.each(cases)("refuses %s", async (_, status, request) => {
    const stub = registryOf(name);
    const before = await stub.state();
    const namesBefore = await directoryNames();
    const res = await request();
    expect(res.status).toBe(status);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    const problem = await res.json<{ status: number; title: string; correlationId: string }>();
    expect(problem).toMatchObject({ status, title: expect.any(String) as string, correlationId: expect.any(String) as string });
    const after = await stub.state();
    expect(after.instances).toEqual(before.instances);
    expect(after.revision).toBe(before.revision);
    expect(await directoryNames()).toEqual(namesBefore);
  });

  it("points a validation problem at the offending field", async () => {
    const res = await call("POST", "", t.svc, reg({ url: "https://192.168.1.1/" }));
    expect(await res.json()).toMatchObject({
      type: "/problems/validation-error",
      errors: [{ pointer: "/body/url", code: "unsafe_url", message: expect.stringContaining("not a public address") as string }],
    });
  });
});
