/**
 * Live subscriptions in a real browser: headless Chromium (playwright-core) opens an `EventSource` and a `WebSocket`
 * with tickets against the built gateway in Miniflare, backed by a local stack of its own. Events published after
 * connecting arrive within a second; after the runtime restarts under them (every connection dropped), the
 * `EventSource` reconnects by itself with `Last-Event-ID` and the page reopens the WebSocket with `lastEventId`, and
 * both end up with every event exactly once, in order, asserted by stream id.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import type { Miniflare } from "miniflare";
import { chromium, type Browser } from "playwright-core";
import { ensureChromium, freePorts, startLocalStack, workerBindings, type LocalStack } from "@foundation/local-stack";
import { signToken } from "../../../scripts/dev-vars.ts";
import { builtWorkers, type BuiltWorkersOptions } from "../../../scripts/gateway-miniflare.ts";

const log = (line: string) => console.log(`[live.node] ${line}`);

let root: string;
let stack: LocalStack | undefined;
let mf: Miniflare | undefined;
let workers: BuiltWorkersOptions;
let browser: Browser | undefined;
let gatewayUrl: string;
let token: string;

async function publish(stream: string, n: number, from: number): Promise<string[]> {
  const events = Array.from({ length: n }, (_, i) => ({ type: "live.test", data: { n: from + i } }));
  const res = await fetch(`${gatewayUrl}/api/foundation/events/${stream}/batch`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(events),
  });
  assert.equal(res.status, 202, await res.clone().text());
  return (await res.json<{ streamIds: string[] }>()).streamIds;
}

/**
 * Runs in the page (plain browser JavaScript): listens over SSE and a WebSocket, each opened with a ticket, and keeps
 * the stream ids each received on `window`. The WebSocket reconnects like EventSource does: after a moment, again
 * until it works, resuming after the last id it got.
 */
const LISTEN = `async ({ stream, token }) => {
  const w = window;
  Object.assign(w, { sse: [], ws: [], sseOpen: 0, wsOpen: 0, wsLast: "" });
  const ticket = async () => {
    const res = await fetch("/api/foundation/events/" + stream + "/live/tickets", { method: "POST", headers: { authorization: "Bearer " + token } });
    if (res.status !== 201) throw new Error("a ticket answered " + res.status + ": " + (await res.text()));
    return (await res.json()).ticket;
  };
  const reconnect = () => setTimeout(() => openWs().catch(reconnect), 500);
  const openWs = async () => {
    const resume = w.wsLast ? "&lastEventId=" + w.wsLast : "";
    const ws = new WebSocket("ws://" + location.host + "/api/foundation/events/" + stream + "/live?ticket=" + (await ticket()) + resume);
    await new Promise((resolve) => {
      ws.onopen = () => { w.wsOpen++; resolve(); };
      ws.onmessage = (m) => { const msg = JSON.parse(m.data); if (msg.id) { w.ws.push(msg.id); w.wsLast = msg.id; } };
      ws.onclose = () => reconnect();
    });
  };
  const es = new EventSource("/api/foundation/events/" + stream + "/live?ticket=" + (await ticket()));
  es.onmessage = (m) => w.sse.push(m.lastEventId);
  await new Promise((resolve) => { es.onopen = () => { w.sseOpen++; resolve(); }; });
  es.onopen = () => w.sseOpen++;
  await openWs();
}`;

/** What the page's listeners hold. */
interface Received {
  sse: string[];
  ws: string[];
  sseOpen: number;
  wsOpen: number;
}
const received = `({ sse: window.sse, ws: window.ws, sseOpen: window.sseOpen, wsOpen: window.wsOpen })`;

describe("live subscriptions in headless Chromium", () => {
  beforeAll(async () => {
    const executablePath = await ensureChromium(log);
    root = mkdtempSync(join(tmpdir(), "foundation-live-"));
    stack = await startLocalStack({ root, profile: "test", log: () => {} });
    const [port] = (await freePorts(1)) as [number];
    const jwtSecret = randomBytes(32).toString("base64url");
    gatewayUrl = `http://127.0.0.1:${port}`;
    token = await signToken(jwtSecret, "live-page", ["publish", "read"], 3600);
    const backing = workerBindings(stack);
    // Given explicitly: a clean checkout has no .dev.vars, and tickets are signed with a key derived from this secret.
    const secrets = { JWT_SECRET: jwtSecret, EVENT_SIGNING_SECRET: randomBytes(32).toString("base64url") };
    workers = { port, bindings: { gateway: { ...backing, ...secrets } }, onOutput: () => {} };
    mf = builtWorkers(workers);
    await mf.ready;
    browser = await chromium.launch({ executablePath, headless: true, args: ["--no-sandbox"] });
  });

  afterAll(async () => {
    await browser?.close();
    await mf?.dispose();
    await stack?.stop();
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it("receives new events within a second and resumes after a forced disconnect with no gap and no duplicate", async () => {
    const stream = `live.browser.${randomBytes(4).toString("hex")}`;
    const expected = await publish(stream, 1, 0);
    const page = await (browser as Browser).newPage();
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(`${gatewayUrl}/dashboard`);
    await page.evaluate(`(${LISTEN})(${JSON.stringify({ stream, token })})`);
    const state = () => page.evaluate<Received>(received);
    const until = async (what: string, ok: (r: Received) => boolean, timeoutMs: number) => {
      const deadline = Date.now() + timeoutMs;
      while (!ok(await state())) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(await state())}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    };

    const sentAt = Date.now();
    expected.push(...(await publish(stream, 5, 1)));
    await until("the first events", (r) => r.sse.length >= 5 && r.ws.length >= 5, 5000);
    const latency = Date.now() - sentAt;
    log(`5 events reached both listeners ${latency} ms after the publish was sent`);
    assert.ok(latency < 1000, `events took ${latency} ms`);

    // Every connection drops: the runtime stops and starts again under the page. Events published meanwhile must not be lost.
    await mf?.dispose();
    mf = builtWorkers(workers);
    await mf.ready;
    expected.push(...(await publish(stream, 5, 6)));
    await until("both listeners to reconnect", (r) => r.sseOpen >= 2 && r.wsOpen >= 2, 15_000);
    expected.push(...(await publish(stream, 5, 11)));
    const live = expected.slice(1);
    await until("every event", (r) => r.sse.length >= live.length && r.ws.length >= live.length, 10_000);
    const got = await state();
    assert.deepEqual(got.sse, live);
    assert.deepEqual(got.ws, live);
    assert.deepEqual(errors, []);
  });
});
