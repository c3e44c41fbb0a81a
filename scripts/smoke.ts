import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import { signLocalToken } from "./dev-vars.ts";

/**
 * `npm run smoke -- <base-url> [--token JWT]`: a post-deploy smoke test of a running gateway. Checks health
 * (Redis and Postgres), the OpenAPI document, auth, an event round trip and rate limiting, prints one line per
 * check and exits 1 when any fails. The token (scopes `admin`, or `publish` and `service`) comes from `--token`,
 * else `FOUNDATION_TOKEN`, else, for a loopback URL, it is signed with the local JWT secret like `npm run token`.
 */
const USAGE = "usage: npm run smoke -- <base-url> [--token JWT]   (or FOUNDATION_TOKEN=JWT)";
const TIMEOUT_MS = 10_000;

/** What every check gets: the gateway's origin and the bearer token. */
interface SmokeContext {
  base: URL;
  token: string;
}

/** A named check: resolves to a short detail line, throws with the reason when the gateway misbehaves. */
interface Check {
  name: string;
  run: (ctx: SmokeContext) => Promise<string>;
}

/** An HTTP answer: status and parsed JSON body (or the text when it is not JSON). */
interface Answer {
  status: number;
  body: unknown;
}

async function call(ctx: SmokeContext, method: string, path: string, options: { auth?: boolean; json?: unknown } = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (options.auth !== false) headers.authorization = `Bearer ${ctx.token}`;
  if (options.json !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(new URL(path, ctx.base), {
    method,
    headers,
    body: options.json === undefined ? undefined : JSON.stringify(options.json),
    redirect: "manual",
    signal: AbortSignal.timeout(TIMEOUT_MS),
  });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) as unknown };
  } catch {
    return { status: res.status, body: text };
  }
}

/** Throws unless the answer has the expected status. */
function expectStatus(what: string, answer: Answer, status: number): void {
  if (answer.status !== status) {
    throw new Error(`${what} answered ${answer.status}, expected ${status}: ${JSON.stringify(answer.body).slice(0, 300)}`);
  }
}

const get = <T>(body: unknown) => body as Partial<T>;

const health: Check = {
  name: "health",
  async run(ctx) {
    const answer = await call(ctx, "GET", "/health", { auth: false });
    expectStatus("GET /health", answer, 200);
    const checks = get<{ checks: Record<string, { ok?: boolean; latencyMs?: number }> }>(answer.body).checks ?? {};
    const down = ["redis", "postgres"].filter((name) => checks[name]?.ok !== true);
    if (down.length > 0) throw new Error(`GET /health reports ${down.join(" and ")} not ok: ${JSON.stringify(checks)}`);
    return `redis ok (${checks.redis?.latencyMs ?? "?"} ms), postgres ok (${checks.postgres?.latencyMs ?? "?"} ms)`;
  },
};

const openapi: Check = {
  name: "openapi",
  async run(ctx) {
    const answer = await call(ctx, "GET", "/openapi.json", { auth: false });
    expectStatus("GET /openapi.json", answer, 200);
    const doc = get<{ openapi: string; paths: Record<string, unknown> }>(answer.body);
    if (!doc.openapi?.startsWith("3.1")) throw new Error(`/openapi.json is not OpenAPI 3.1 (openapi: ${JSON.stringify(doc.openapi)})`);
    return `OpenAPI ${doc.openapi}, ${Object.keys(doc.paths ?? {}).length} paths`;
  },
};

const auth: Check = {
  name: "auth",
  async run(ctx) {
    const routes = [
      { method: "GET", path: "/api/foundation/services" },
      { method: "POST", path: "/api/example/echo", json: { message: "smoke" } },
    ];
    for (const { method, path, json } of routes) {
      expectStatus(`${method} ${path} without a token`, await call(ctx, method, path, { auth: false, json }), 401);
      expectStatus(`${method} ${path} with the token`, await call(ctx, method, path, { json }), 200);
    }
    return `${routes.map((r) => `${r.method} ${r.path}`).join(" and ")}: 401 without a token, 200 with one`;
  },
};

const events: Check = {
  name: "events",
  async run(ctx) {
    const stream = `smoke.${randomUUID()}`;
    const published = await call(ctx, "POST", `/api/foundation/events/${stream}`, {
      json: { type: "smoke.ping", data: { at: Date.now() } },
    });
    expectStatus(`POST /api/foundation/events/${stream}`, published, 202);
    const id = get<{ id: string }>(published.body).id;
    const replayed = await call(ctx, "GET", `/api/foundation/events/${stream}`);
    expectStatus(`GET /api/foundation/events/${stream}`, replayed, 200);
    const ids = (get<{ events: { id?: string }[] }>(replayed.body).events ?? []).map((e) => e.id);
    if (ids.length !== 1 || ids[0] !== id)
      throw new Error(`replaying ${stream} gave ${JSON.stringify(ids)}, expected [${JSON.stringify(id)}]`);
    return `published ${id} to ${stream} and replayed it`;
  },
};

const ratelimit: Check = {
  name: "ratelimit",
  async run(ctx) {
    const body = { key: `smoke-${randomUUID()}`, policy: { algorithm: "fixed-window", limit: 1, windowMs: 60_000 } };
    const decisions: boolean[] = [];
    for (let i = 0; i < 2; i++) {
      const answer = await call(ctx, "POST", "/api/foundation/ratelimit/check", { json: body });
      expectStatus("POST /api/foundation/ratelimit/check", answer, 200);
      decisions.push(get<{ allowed: boolean }>(answer.body).allowed === true);
    }
    if (decisions[0] !== true || decisions[1] !== false)
      throw new Error(`a limit of 1 allowed ${JSON.stringify(decisions)}, expected [true, false]`);
    return "limit 1: first call allowed, second refused";
  },
};

const CHECKS: readonly Check[] = [health, openapi, auth, events, ratelimit];

/** The base URL and `--token` from the command line; throws when they are unusable. */
function commandLine(): { base: URL; token?: string } {
  const { values, positionals } = parseArgs({ options: { token: { type: "string" } }, allowPositionals: true });
  const [url, ...extra] = positionals;
  if (url === undefined || extra.length > 0) throw new Error("give exactly one base URL");
  if (!URL.canParse(url)) throw new Error(`not a URL: ${url}`);
  return { base: new URL(url), token: values.token };
}

/** The base URL and the token (see the file's comment); exits 2 with the usage when either is missing. */
async function context(): Promise<SmokeContext> {
  try {
    const { base, token } = commandLine();
    const loopback = ["127.0.0.1", "localhost", "[::1]"].includes(base.hostname);
    const given = token ?? process.env.FOUNDATION_TOKEN;
    if (given) return { base, token: given };
    if (!loopback) throw new Error("a token is needed: --token or FOUNDATION_TOKEN");
    return { base, token: await signLocalToken("smoke", ["admin"], 600) };
  } catch (err) {
    console.error(`smoke: ${(err as Error).message}\n${USAGE}`);
    process.exit(2);
  }
}

/** An error's message with its cause's (fetch's "fetch failed" says why only in the cause, e.g. ECONNREFUSED). */
function reason(err: unknown): string {
  const e = err as Error & { cause?: { message?: string; code?: string } };
  const cause = e.cause?.code ?? e.cause?.message;
  return cause ? `${e.message}: ${cause}` : e.message;
}

async function main(): Promise<number> {
  const ctx = await context();
  console.log(`smoke: ${ctx.base.origin}`);
  let failed = 0;
  for (const check of CHECKS) {
    const started = Date.now();
    try {
      const detail = await check.run(ctx);
      console.log(`smoke: ok   ${check.name.padEnd(10)} ${detail} (${Date.now() - started} ms)`);
    } catch (err) {
      failed++;
      console.log(`smoke: FAIL ${check.name.padEnd(10)} ${reason(err)} (${Date.now() - started} ms)`);
    }
  }
  console.log(failed === 0 ? `smoke: all ${CHECKS.length} checks passed` : `smoke: ${failed} of ${CHECKS.length} checks failed`);
  return failed === 0 ? 0 : 1;
}

process.exit(await main());
