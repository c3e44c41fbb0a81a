import { env, SELF } from "cloudflare:test";
import { RegistryClient, STATUS_LISTENER_NAME } from "@foundation/registry";
import { describe, expect, inject, it } from "vitest";
import type { DashboardMessage } from "../src/dashboard/status-dashboard.ts";
import type { DashboardState } from "../src/dashboard/snapshot.ts";

const upstreams = inject("upstreams");
const unique = (prefix: string) => `${prefix}-${crypto.randomUUID().slice(0, 8)}`;

/** Opens the dashboard's WebSocket through the gateway and collects what it receives. */
async function openLive(): Promise<{ ws: WebSocket; messages: DashboardMessage[]; raw: string[]; closed: Promise<CloseEvent> }> {
  const res = await SELF.fetch("http://gateway.local/dashboard/live", { headers: { Upgrade: "websocket" } });
  expect(res.status).toBe(101);
  const ws = res.webSocket;
  if (!ws) throw new Error("no WebSocket in the answer");
  const messages: DashboardMessage[] = [];
  const raw: string[] = [];
  const closed = new Promise<CloseEvent>((resolve) => ws.addEventListener("close", resolve));
  ws.addEventListener("message", (e) => {
    raw.push(String(e.data));
    if (e.data !== "pong") messages.push(JSON.parse(String(e.data)) as DashboardMessage);
  });
  ws.accept();
  return { ws, messages, raw, closed };
}

async function until<T>(get: () => T | undefined, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = get();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("status dashboard", () => {
  it("pushes an instance's turn to critical to connected dashboards, without its check output", async () => {
    const live = await openLive();
    const service = unique("dash");
    const registry = new RegistryClient(env);
    const reg = await registry.register({ name: service, url: `${upstreams.a}/${service}/`, version: "1.0.0" });
    if (!reg.ok) throw new Error("registration failed");
    await registry.heartbeat(service, reg.instanceId, { status: "critical", output: "db password rejected for 10.0.0.7" });
    const change = await until(() =>
      live.messages
        .flatMap((m) => (m.type === "status" ? m.changes : []))
        .find((c) => c.instanceId === reg.instanceId && c.to === "critical"),
    );
    expect(change).toEqual({ service, instanceId: reg.instanceId, from: "passing", to: "critical", at: expect.any(Number) as number });
    expect(live.raw.join("\n")).not.toContain("10.0.0.7");
    live.ws.close(1000);
  });

  it("holds sockets with the hibernation API: ping is answered with pong, any other message closes the read-only socket", async () => {
    const live = await openLive();
    const ns = env.STATUS_DASHBOARD;
    const stub = ns.get(ns.idFromName(STATUS_LISTENER_NAME));
    expect(await stub.connections()).toBeGreaterThanOrEqual(1);
    live.ws.send("ping");
    await until(() => (live.raw.includes("pong") ? true : undefined));
    live.ws.send(JSON.stringify({ type: "status", changes: [] }));
    expect((await live.closed).code).toBe(1008);
  });

  it("broadcasts that an uptime check ran", async () => {
    const live = await openLive();
    const ns = env.STATUS_DASHBOARD;
    expect(await ns.get(ns.idFromName(STATUS_LISTENER_NAME)).checked(1234)).toBeGreaterThanOrEqual(1);
    expect(await until(() => live.messages.find((m) => m.type === "checked"))).toEqual({ type: "checked", at: 1234 });
    live.ws.close(1000);
  });

  it("answers 426 to /dashboard/live without a WebSocket upgrade", async () => {
    const res = await SELF.fetch("http://gateway.local/dashboard/live");
    expect(res.status).toBe(426);
    expect(res.headers.get("content-type")).toContain("application/problem+json");
  });

  it("serves the state without auth, and no instance URL or host, metadata or check output", async () => {
    const service = unique("dashs");
    const registry = new RegistryClient(env);
    const url = `${upstreams.a}/${service}/secret-path/`;
    const reg = await registry.register({ name: service, url, version: "2.1.0", metadata: { apiKey: "s3cr3t" } });
    if (!reg.ok) throw new Error("registration failed");
    await registry.heartbeat(service, reg.instanceId, { status: "warning", output: "disk at 91% on node-7" });
    await new Promise((r) => setTimeout(r, 1100));
    const res = await SELF.fetch("http://gateway.local/dashboard/state");
    expect(res.status).toBe(200);
    const text = await res.text();
    for (const secret of ["secret-path", "s3cr3t", "node-7", new URL(url).host]) expect(text).not.toContain(secret);
    const state = JSON.parse(text) as DashboardState;
    const instance = state.services?.find((s) => s.name === service)?.instances[0];
    expect(instance).toMatchObject({ id: reg.instanceId, status: "warning", version: "2.1.0" });
    expect(Object.keys(instance ?? {}).sort()).toEqual(
      ["id", "lastCheckAt", "lastHeartbeatAt", "lastOk", "status", "uptime24h", "uptime30d", "uptime7d", "version"].sort(),
    );
    expect(state.streams).toEqual(expect.any(Array));
    expect(state.queues).toEqual(expect.any(Array));
    expect(state.rateLimitRejections).toEqual(expect.any(Array));
    expect(state.serverErrors).toEqual(expect.any(Array));
  });
});
