/**
 * The status dashboard in a real browser: playwright-core drives Debian's headless Chromium (installed with
 * apt-get when missing and running as root, else the test fails naming the command) against the built
 * workers in Miniflare on a loopback port. The registry lives in the gateway's Durable Objects, so no Redis
 * or PostgreSQL is needed: the page shows those sections as not available. The screenshot is saved to
 * test-artifacts/dashboard.png.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import type { Miniflare } from "miniflare";
import { chromium, type Browser, type Page } from "playwright-core";
import { ensureChromium, freePorts } from "@foundation/local-stack";
import { signToken } from "../../../scripts/dev-vars.ts";
import { builtWorkers } from "../../../scripts/gateway-miniflare.ts";
import { ROOT } from "../../../scripts/workers.ts";

const ARTIFACTS = resolve(ROOT, "test-artifacts");
const log = (line: string) => console.log(`[dashboard.node] ${line}`);

let mf: Miniflare | undefined;
let browser: Browser | undefined;
let gatewayUrl: string;
let adminToken: string;
const workerOutput: string[] = [];

function sign(secret: string, scope: string, subject: string): Promise<string> {
  return signToken(secret, subject, [scope], 3600);
}

async function api(method: string, path: string, body: unknown): Promise<Response> {
  return fetch(`${gatewayUrl}/api/foundation${path}`, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
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

describe("the status dashboard in headless Chromium", () => {
  beforeAll(async () => {
    const executablePath = await ensureChromium(log);
    const [port] = (await freePorts(1)) as [number];
    const jwtSecret = randomBytes(32).toString("base64url");
    gatewayUrl = `http://127.0.0.1:${port}`;
    adminToken = await sign(jwtSecret, "admin", "dashboard-test");
    mf = builtWorkers({ port, bindings: { gateway: { JWT_SECRET: jwtSecret } }, onOutput: (l) => workerOutput.push(l) });
    await mf.ready;
    browser = await chromium.launch({ executablePath, headless: true, args: ["--no-sandbox"] });
  });

  afterAll(async () => {
    await browser?.close();
    await mf?.dispose();
  });

  it("shows a registered service and its instance turning critical without a reload, with no console errors", async () => {
    const registered = await api("POST", "/services", { name: "billing", url: "https://billing.example.com/", version: "1.4.2" });
    assert.equal(registered.status, 201, await registered.clone().text());
    const { instanceId } = await registered.json<{ instanceId: string }>();

    const { page, errors } = await openDashboard();
    const instance = page.locator(`[data-service="billing"] [data-instance="${instanceId}"]`);
    await instance.waitFor();
    assert.equal(await instance.getAttribute("data-status"), "passing");
    assert.match((await instance.textContent()) ?? "", /v1\.4\.2/);
    assert.equal((await page.locator("body").textContent())?.includes("billing.example.com"), false, "the instance's host stays private");
    await page.locator('#connection[data-state="live"]').waitFor();
    await page.evaluate("window.loadedOnce = true");

    const beat = await api("PUT", `/services/billing/instances/${instanceId}/heartbeat`, { status: "critical", output: "database down" });
    assert.equal(beat.status, 200);
    await page.locator(`[data-instance="${instanceId}"][data-status="critical"]`).waitFor({ timeout: 5000 });
    assert.equal(await page.evaluate<boolean>("window.loadedOnce === true"), true, "the page was not reloaded");
    assert.equal(
      await page
        .locator("body")
        .textContent()
        .then((t) => t?.includes("database down")),
      false,
      "check output stays private",
    );

    const overflow = await page.evaluate<number>("document.documentElement.scrollWidth - window.innerWidth");
    assert.ok(overflow <= 0, `the page scrolls sideways on a phone by ${overflow}px`);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: resolve(ARTIFACTS, "dashboard.png"), fullPage: true });
    assert.deepEqual(errors, [], `console errors; last worker output:\n${workerOutput.slice(-20).join("\n")}`);
  });
});
