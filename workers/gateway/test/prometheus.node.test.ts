/**
 * The gateway's aggregated /metrics checked with the real Prometheus tools (Debian's `prometheus` package;
 * installed with apt-get when missing and running as root, else the test fails naming the command). The built
 * workers (npm run build) run in Miniflare on a loopback port with their Durable Objects, the example pushing
 * its metrics to the gateway over HTTP as a deployed service does; no Redis or PostgreSQL is involved.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, it } from "vitest";
import { SignJWT } from "jose";
import type { Miniflare } from "miniflare";
import {
  ensurePrometheus,
  freePorts,
  promtool,
  startPrometheus,
  type PrometheusBinaries,
  type PrometheusServer,
} from "@foundation/local-stack";
import { builtWorkers } from "../../../scripts/gateway-miniflare.ts";
import { ROOT } from "../../../scripts/workers.ts";

/** Requests sent through the gateway to the example service. */
const K = 37;
const RULES = resolve(ROOT, "monitoring/prometheus/alerts.yml");
const RULE_TESTS = resolve(ROOT, "monitoring/prometheus/alerts.test.yml");
const DASHBOARD = resolve(ROOT, "monitoring/grafana/foundation.json");
const log = (line: string) => console.log(`[prometheus.node] ${line}`);

interface QueryAnswer {
  status: "success" | "error";
  error?: string;
  data?: { resultType: string; result: Array<{ metric: Record<string, string>; value: [number, string] }> };
}

interface Panel {
  type: string;
  title: string;
  targets?: Array<{ expr: string }>;
}

let bins: PrometheusBinaries;
let mf: Miniflare | undefined;
let prom: PrometheusServer | undefined;
let workDir: string | undefined;
let gatewayUrl: string;
let metricsToken: string;
const workerOutput: string[] = [];

/** A service token for the example, signed with this run's JWT secret. */
function serviceToken(secret: string): Promise<string> {
  return new SignJWT({ scope: "service" })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject("example")
    .setIssuer("foundation-local")
    .setAudience("foundation")
    .setExpirationTime("1h")
    .sign(new TextEncoder().encode(secret));
}

/** prometheus.yml scraping the gateway every second with the metrics bearer token, loading the alert rules (JSON is YAML). */
function prometheusConfig(target: string, token: string): string {
  return JSON.stringify({
    global: { scrape_interval: "1s", evaluation_interval: "1s" },
    rule_files: [RULES],
    scrape_configs: [
      {
        job_name: "foundation",
        metrics_path: "/metrics",
        authorization: { type: "Bearer", credentials: token },
        static_configs: [{ targets: [target] }],
      },
    ],
  });
}

async function query(expr: string): Promise<QueryAnswer> {
  const res = await fetch(`${prom?.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
  return res.json<QueryAnswer>();
}

/** The single value of an instant query, or undefined when it has no result yet. */
async function scalar(expr: string): Promise<number | undefined> {
  const answer = await query(expr);
  assert.equal(answer.status, "success", `${expr}: ${answer.error}`);
  const first = answer.data?.result[0];
  return first ? Number(first.value[1]) : undefined;
}

/** Polls `expr` until it equals `want` (or fails after `timeoutMs` with the last value and the workers' output). */
async function eventually(expr: string, want: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let got: number | undefined;
  while (Date.now() < deadline) {
    got = await scalar(expr);
    if (got === want) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.fail(`${expr} = ${got}, expected ${want}; last worker output:\n${workerOutput.slice(-30).join("\n")}`);
}

const panelExprs = (): Array<{ title: string; expr: string }> =>
  (JSON.parse(readFileSync(DASHBOARD, "utf8")) as { panels: Panel[] }).panels.flatMap((p) =>
    (p.targets ?? []).map((t) => ({ title: p.title, expr: t.expr.replaceAll("$__rate_interval", "1m").replaceAll("$service", ".*") })),
  );

describe("gateway /metrics with the real Prometheus tools", () => {
  beforeAll(async () => {
    bins = await ensurePrometheus(log);
    const [gatewayPort, promPort] = (await freePorts(2)) as [number, number];
    const jwtSecret = randomBytes(32).toString("base64url");
    metricsToken = randomBytes(16).toString("hex");
    gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
    const flush = { METRICS_FLUSH_INTERVAL_MS: "500" };
    mf = builtWorkers({
      port: gatewayPort,
      bindings: {
        gateway: { JWT_SECRET: jwtSecret, METRICS_TOKEN: metricsToken, ...flush },
        example: { REGISTRY_URL: gatewayUrl, REGISTRY_TOKEN: await serviceToken(jwtSecret), ...flush },
      },
      onOutput: (line) => workerOutput.push(line),
    });
    await mf.ready;
    workDir = mkdtempSync(join(tmpdir(), "foundation-prometheus-"));
    const configFile = join(workDir, "prometheus.yml");
    writeFileSync(configFile, prometheusConfig(`127.0.0.1:${gatewayPort}`, metricsToken));
    prom = await startPrometheus({ binary: bins.prometheus, configFile, dataDir: join(workDir, "data"), port: promPort, log });
  });

  afterAll(async () => {
    await prom?.stop();
    await mf?.dispose();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it(`counts exactly the ${K} requests sent through the gateway, as scraped by Prometheus`, async () => {
    for (let i = 0; i < K; i += 8) {
      const batch = Array.from({ length: Math.min(8, K - i) }, () => fetch(`${gatewayUrl}/api/example/hello`));
      for (const res of await Promise.all(batch)) {
        assert.equal(res.status, 200);
        await res.arrayBuffer();
      }
    }
    await eventually('sum(foundation_http_requests_total{service="example",route="/hello",status="200"})', K);
    await eventually('sum(foundation_http_requests_total{service="gateway",route="/api/:service/*",status="200"})', K);
    await eventually('sum(foundation_http_request_duration_seconds_count{service="example",route="/hello"})', K);
    await new Promise((r) => setTimeout(r, 2500));
    assert.equal(await scalar('sum(foundation_http_requests_total{service="example",route="/hello"})'), K, "no request counted twice");
    assert.equal(await scalar('up{job="foundation"}'), 1);
  });

  it("serves /metrics that passes `promtool check metrics`, and only with the bearer token", async () => {
    assert.equal((await fetch(`${gatewayUrl}/metrics`)).status, 401);
    const res = await fetch(`${gatewayUrl}/metrics`, { headers: { authorization: `Bearer ${metricsToken}` } });
    assert.equal(res.status, 200);
    const text = await res.text();
    assert.match(text, /^foundation_http_requests_total\{.*service="example".*\} \d+$/m);
    const check = await promtool(bins.promtool, ["check", "metrics"], text);
    assert.equal(check.code, 0, check.output);
  });

  it("has alert rules that pass `promtool check rules` and their unit tests, and that Prometheus evaluates", async () => {
    const check = await promtool(bins.promtool, ["check", "rules", RULES]);
    assert.equal(check.code, 0, check.output);
    const unit = await promtool(bins.promtool, ["test", "rules", RULE_TESTS]);
    assert.equal(unit.code, 0, unit.output);
    const res = await fetch(`${prom?.url}/api/v1/rules`);
    const body = await res.json<{ data: { groups: Array<{ rules: Array<{ name: string; health: string; lastError?: string }> }> } }>();
    const rules = body.data.groups.flatMap((g) => g.rules);
    assert.equal(rules.length, 11);
    for (const r of rules) assert.equal(r.health, "ok", `${r.name}: ${r.lastError ?? r.health}`);
  });

  it("has a Grafana dashboard whose every panel query runs against that Prometheus", async () => {
    const exprs = panelExprs();
    assert.ok(exprs.length >= 17, `${exprs.length} panel queries`);
    for (const { title, expr } of exprs) {
      const answer = await query(expr);
      assert.equal(answer.status, "success", `panel "${title}": ${expr}: ${answer.error}`);
    }
    const rate = exprs.find((e) => e.title === "Request rate");
    const series = (await query(rate?.expr ?? "")).data?.result.map((r) => r.metric.service);
    assert.deepEqual(series?.sort(), ["example", "gateway"]);
    const res = await fetch(`${prom?.url}/api/v1/label/service/values?match[]=foundation_http_requests_total`);
    assert.deepEqual((await res.json<{ data: string[] }>()).data.sort(), ["example", "gateway"]);
  });
});
