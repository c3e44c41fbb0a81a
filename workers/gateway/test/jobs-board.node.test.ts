/**
 * The job board of the status dashboard in a real browser: playwright-core drives Debian's headless Chromium
 * (installed with apt-get when missing and running as root, else the test fails naming the command) against the
 * built workers in Miniflare on a loopback port, with a real redis-server and PostgreSQL from the local stack (the
 * queue list lives in PostgreSQL). The queue's target is a small HTTP server here that fails a job's first attempt
 * with markup in its reason, as a hostile worker could, and completes the next. The screenshot is saved to
 * test-artifacts/jobs-board.png.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, it, vi } from "vitest";
import type { Miniflare } from "miniflare";
import { chromium, type Browser, type Page } from "playwright-core";
import { ensureChromium, freePorts, startLocalStack, type LocalStack } from "@foundation/local-stack";
import { signToken } from "../../../scripts/dev-vars.ts";
import { builtWorkers } from "../../../scripts/gateway-miniflare.ts";
import { ROOT } from "../../../scripts/workers.ts";

const ARTIFACTS = resolve(ROOT, "test-artifacts");
const QUEUE = "board.reports";
/** What the target answers a job's first attempt: markup that must show as text, never run. */
const HOSTILE_DETAIL = `<img src=x onerror="window.pwned=1">upstream <b>exploded</b>`;
const HOSTILE_NAME = `<script>window.pwned=2</script>weekly`;
/** In every job's data: it must never reach the page. */
const SECRET = `customer-${randomBytes(6).toString("hex")}`;
const log = (line: string) => console.log(`[jobs-board.node] ${line}`);

let stack: LocalStack | undefined;
let stackRoot: string | undefined;
let mf: Miniflare | undefined;
let browser: Browser | undefined;
let target: Server | undefined;
let targetUrl: string;
let gatewayUrl: string;
let adminToken: string;
const attempts = new Map<string, number>();
const workerOutput: string[] = [];

function sign(secret: string, scope: string, subject: string): Promise<string> {
  return signToken(secret, subject, [scope], 3600);
}

async function api(method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${gatewayUrl}/api/foundation${path}`, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

async function jobState(id: string): Promise<string> {
  const res = await api("GET", `/queues/${QUEUE}/jobs/${id}`);
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json<{ state: string }>()).state;
}

async function untilState(id: string, state: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while ((await jobState(id)) !== state) {
    if (Date.now() > deadline) throw new Error(`job ${id} did not become ${state}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The queue's target: fails each job's first attempt with {@link HOSTILE_DETAIL} as a problem's detail, completes the next. */
function startTarget(port: number): Promise<Server> {
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => {
      const { id } = JSON.parse(body) as { id: string };
      const n = (attempts.get(id) ?? 0) + 1;
      attempts.set(id, n);
      if (n === 1) {
        res.writeHead(500, { "content-type": "application/problem+json" });
        res.end(JSON.stringify({ title: "Internal Server Error", status: 500, detail: HOSTILE_DETAIL }));
      } else {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ ok: true }));
      }
    });
  });
  return new Promise((done) => server.listen(port, "127.0.0.1", () => done(server)));
}

/** Opens the dashboard at phone size and records every console error and uncaught exception. */
async function openDashboard(): Promise<{ page: Page; errors: string[] }> {
  const page = await (browser as Browser).newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2 });
  const errors: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(`${gatewayUrl}/dashboard`);
  return { page, errors };
}

const count = (page: Page, state: string) => page.locator(`article[data-queue="${QUEUE}"] .count[data-state="${state}"] b`);

/** Waits until the element's text is `text` (polled: the page's CSP refuses the string functions waitForFunction sends). */
async function untilText(page: Page, selector: string, text: string): Promise<void> {
  await vi.waitFor(async () => assert.equal(await page.locator(selector).textContent({ timeout: 1000 }), text), {
    timeout: 10_000,
    interval: 100,
  });
}

describe("the job board in headless Chromium", () => {
  beforeAll(async () => {
    const executablePath = await ensureChromium(log);
    stackRoot = mkdtempSync(join(tmpdir(), "foundation-jobs-board-"));
    stack = await startLocalStack({ root: stackRoot, profile: "test", migrationsDir: resolve(ROOT, "migrations"), log: () => {} });
    const [port, targetPort] = (await freePorts(2)) as [number, number];
    target = await startTarget(targetPort);
    targetUrl = `http://127.0.0.1:${targetPort}/work`;
    const jwtSecret = randomBytes(32).toString("base64url");
    gatewayUrl = `http://127.0.0.1:${port}`;
    adminToken = await sign(jwtSecret, "admin", "jobs-board-test");
    const gateway = {
      JWT_SECRET: jwtSecret,
      EVENT_SIGNING_SECRET: randomBytes(32).toString("base64url"),
      UPSTASH_REDIS_REST_URL: stack.upstash.url,
      UPSTASH_REDIS_REST_TOKEN: stack.upstash.token,
      DATABASE_URL: stack.neon.databaseUrl,
      NEON_HTTP_ENDPOINT: stack.neon.httpEndpoint,
      NEON_WS_PROXY: stack.neon.wsProxy,
    };
    mf = builtWorkers({ port, bindings: { gateway }, onOutput: (l) => workerOutput.push(l) });
    await mf.ready;
    browser = await chromium.launch({ executablePath, headless: true, args: ["--no-sandbox"] });
  });

  afterAll(async () => {
    await browser?.close();
    await mf?.dispose();
    await new Promise((r) => (target ? target.close(r) : r(undefined)));
    await stack?.stop();
    if (stackRoot) rmSync(stackRoot, { recursive: true, force: true });
  });

  it("shows a failed job's reason as text to an admin only, and runs it again on Retry; Cancel stops a delayed job", async () => {
    const created = await api("PUT", `/queues/${QUEUE}`, { target: { url: targetUrl }, defaults: { attempts: 1 } });
    assert.equal(created.status, 200, await created.clone().text());
    const added = await api("POST", `/queues/${QUEUE}/jobs`, { name: HOSTILE_NAME, data: { customer: SECRET } });
    assert.equal(added.status, 201, await added.clone().text());
    const { id } = await added.json<{ id: string }>();
    await untilState(id, "failed");
    const later = await api("POST", `/queues/${QUEUE}/jobs`, { name: "later", delayMs: 600_000, data: { customer: SECRET } });
    const { id: laterId } = await later.json<{ id: string }>();

    const { page, errors } = await openDashboard();
    await untilText(page, `article[data-queue="${QUEUE}"] .count[data-state="failed"] b`, "1");
    assert.equal(await count(page, "delayed").textContent(), "1");
    assert.match((await page.locator(`article[data-queue="${QUEUE}"] .throughput`).textContent()) ?? "", /1 failed/);
    const publicText = (await page.locator("body").textContent()) ?? "";
    for (const hidden of [SECRET, "exploded", id, "weekly", targetUrl])
      assert.equal(publicText.includes(hidden), false, `${hidden} shows publicly`);
    assert.equal(await page.locator("button[data-action]").count(), 0, "no action without an admin token");

    await page.locator("#admin summary").click();
    await page.locator("#admin-token").fill(adminToken);
    await page.locator("#admin-form button[type=submit]").click();
    const failed = page.locator(`article[data-queue="${QUEUE}"] [data-list="failed"] li[data-job="${id}"]`);
    await failed.waitFor({ timeout: 10_000 });
    assert.equal(await failed.locator(".reason").textContent(), `HTTP 500: ${HOSTILE_DETAIL}`);
    assert.equal(await failed.locator("strong").textContent(), HOSTILE_NAME);
    assert.equal(await page.locator("#queues img, #queues script, .reason b").count(), 0, "markup in a reason or name stays text");
    assert.equal(await page.evaluate<unknown>("window.pwned"), undefined);
    assert.equal((await page.locator("body").textContent())?.includes(SECRET), false, "job data stays out of the admin view too");

    const delayed = page.locator(`article[data-queue="${QUEUE}"] [data-list="unfinished"] li[data-job="${laterId}"]`);
    await delayed.waitFor();
    const overflow = await page.evaluate<number>("document.documentElement.scrollWidth - window.innerWidth");
    assert.ok(overflow <= 0, `the page scrolls sideways on a phone by ${overflow}px`);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: resolve(ARTIFACTS, "jobs-board.png"), fullPage: true });

    await failed.locator("button[data-action=retry]").click();
    await page.locator("#board-status", { hasText: "Retried" }).waitFor({ timeout: 10_000 });
    await untilText(page, `article[data-queue="${QUEUE}"] .count[data-state="completed"] b`, "1");
    assert.equal(await count(page, "failed").textContent(), "0");
    await failed.waitFor({ state: "detached", timeout: 10_000 });
    assert.equal(attempts.get(id), 2, "the retried job ran again at its target");
    assert.equal(await jobState(id), "completed");

    await delayed.locator("button[data-action=cancel]").click();
    await untilText(page, `article[data-queue="${QUEUE}"] .count[data-state="cancelled"] b`, "1");
    await delayed.waitFor({ state: "detached", timeout: 10_000 });
    assert.equal(await jobState(laterId), "cancelled");
    assert.equal(attempts.has(laterId), false, "the cancelled job never ran");

    assert.deepEqual(errors, [], `console errors; last worker output:\n${workerOutput.slice(-20).join("\n")}`);
  });
});
