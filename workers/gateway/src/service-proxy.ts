import { addressKey, heartbeatIntervalSeconds, isRoutable, RegistryCache, RegistryClient, type Instance } from "@foundation/registry";
import {
  bindingName,
  bindingNamed,
  checkPublicUrl,
  errorFields,
  HttpProblem,
  serviceBinding,
  type Counter,
  type Logger,
  type MetricsRegistry,
  type ServiceBinding,
} from "@foundation/core";
import type { AuthContext } from "@foundation/service-kit";
import type { Context } from "hono";
import { configFrom } from "./config.ts";
import { identityFor } from "./identity.ts";
import { apiPathOf } from "./request-path.ts";
import { RetryBudget, type RetryBudgetPolicy } from "./routing/retry-budget.ts";
import { downstreamResponse, upstreamRequest, type ForwardContext } from "./forward.ts";
import {
  bodyReplay,
  DEFAULT_BREAKER_POLICY,
  DEFAULT_OUTLIER_POLICY,
  DEFAULT_RETRY_POLICY,
  shouldRetry,
  timeoutFor,
  UpstreamPool,
  type BodyReplay,
  type BreakerPolicy,
  type OutlierPolicy,
  type PoolEvent,
  type RetryPolicy,
  type Upstream,
} from "./routing/index.ts";
import type { GatewayEnv } from "./env.ts";

/** Options of {@link serviceProxy}. */
export interface ServiceProxyOptions {
  /** Where the proxy counts its attempts, retries, refusals, breaker changes and ejections. */
  metrics: MetricsRegistry;
  /** The isolate's discovery cache (default: its own, with the registry's 1 s staleness bound). */
  cache?: RegistryCache;
  /** Clock of the breakers and of outlier detection (default `Date.now`). */
  now?: () => number;
  breaker?: Partial<BreakerPolicy>;
  outlier?: Partial<OutlierPolicy>;
  retry?: Partial<RetryPolicy>;
  /** How many retries a service's requests may cause (default: 20 % of them, at least 10 per 10 s). */
  retryBudget?: RetryBudgetPolicy;
}

/** One instance as the proxy reaches it: a service binding, or `fetch` to its URL. */
interface Target extends Upstream {
  base: string;
  /** The service that answers there and verifies the gateway's identity assertion: a binding's worker, or the registered service. */
  audience: string;
  /** Reached over a service binding (see `ForwardContext.overBinding`). */
  overBinding?: boolean;
  send: (req: Request, signal: AbortSignal) => Promise<Response>;
}

/** The service behind a binding, by the naming convention of bindings (`AI_MONITOR` serves `ai-monitor`). */
const serviceOfBinding = (binding: string) => binding.toLowerCase().replace(/_/g, "-");

/** What the registry (or the static binding) offers for a service. */
type Resolution =
  | { kind: "targets"; targets: Target[] }
  | { kind: "none-passing"; retryAfterSeconds: number }
  | { kind: "unknown" }
  | { kind: "discovery-failed" };

/** One attempt's result. */
type Attempt = { failure: null; res: Response } | { failure: "server-error"; res: Response } | { failure: "connect-failure" | "timeout" };

interface ProxyMetrics {
  attempts: Counter;
  retries: Counter;
  budgetExhausted: Counter;
  unavailable: Counter;
  breakers: Counter;
  ejections: Counter;
}

function proxyMetrics(registry: MetricsRegistry): ProxyMetrics {
  return {
    attempts: registry.counter(
      "foundation_gateway_upstream_requests_total",
      "Attempts sent to service instances, by service and outcome (success, server-error, connect-failure, timeout)",
    ),
    retries: registry.counter("foundation_gateway_upstream_retries_total", "Requests sent again to another instance, by service"),
    budgetExhausted: registry.counter(
      "foundation_gateway_retry_budget_exhausted_total",
      "Retries not sent because the service's retry budget (a share of its recent requests) was spent, by service",
    ),
    unavailable: registry.counter(
      "foundation_gateway_upstream_unavailable_total",
      "Requests answered 503 without an upstream attempt, by service and reason (no-healthy-instance, breakers-open, discovery-failed)",
    ),
    breakers: registry.counter(
      "foundation_gateway_breaker_transitions_total",
      "Circuit breaker state changes of instances, by service and new state",
    ),
    ejections: registry.counter("foundation_gateway_outlier_ejections_total", "Instances ejected by outlier detection, by service"),
  };
}

const fetchTarget = (key: string, base: string, audience: string, fetcher: ServiceBinding | undefined): Target | undefined =>
  fetcher ? { key, base, audience, overBinding: true, send: (req, signal) => fetcher.fetch(req, { signal }) } : undefined;

/**
 * The target of a registered instance: its binding when the gateway has a service binding of that name; its
 * URL when it still passes the registry's address rules (checked again here: the environment may have
 * changed since it registered); else none.
 */
function targetOf(env: Env, instance: Instance, service: string): Target | undefined {
  const key = addressKey(instance);
  if (instance.binding !== undefined) {
    return fetchTarget(key, `https://${service}.internal`, serviceOfBinding(instance.binding), bindingNamed(env, instance.binding));
  }
  const check = checkPublicUrl(instance.url ?? "", { local: env.ENVIRONMENT === "local" });
  return check.ok ? { key, base: check.url, audience: service, send: (req, signal) => fetch(req, { signal }) } : undefined;
}

/** The instances of `service` to route to: the registry's routable ones, or the static binding when the registry knows none. */
async function resolve(env: Env, service: string, registry: RegistryClient, log: Logger): Promise<Resolution> {
  let instances: Instance[];
  try {
    ({ instances } = await registry.discover(service));
  } catch (err) {
    log.error("service discovery failed", { service, ...errorFields(err) });
    return { kind: "discovery-failed" };
  }
  if (instances.length === 0) {
    // The registry knows no instance: fall back to the static service binding named after the service
    // (wrangler.toml), so a bound worker such as the example is reachable without registering itself.
    const fallback = fetchTarget(
      addressKey({ binding: bindingName(service) }),
      `https://${service}.internal`,
      service,
      serviceBinding(env, service),
    );
    return fallback ? { kind: "targets", targets: [fallback] } : { kind: "unknown" };
  }
  const now = Date.now();
  // Consul's model: `passing` and `warning` (an optional dependency down) take traffic, `critical` none.
  const targets = instances.filter((i) => isRoutable(i, now)).flatMap((i) => targetOf(env, i, service) ?? []);
  if (targets.length > 0) return { kind: "targets", targets };
  return { kind: "none-passing", retryAfterSeconds: Math.min(...instances.map((i) => heartbeatIntervalSeconds(i.ttlMs / 1000))) };
}

/** Sends `req` to `target` within `budgetMs`: a 5xx or a thrown fetch is a failure, and so is no answer in time. */
async function attempt(target: Target, req: Request, budgetMs: number): Promise<Attempt> {
  if (budgetMs <= 0) return { failure: "timeout" };
  const abort = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<"timeout">((done) => {
    timer = setTimeout(() => {
      abort.abort(new DOMException("upstream timeout", "TimeoutError"));
      done("timeout");
    }, budgetMs);
  });
  const sending = target.send(req, abort.signal);
  try {
    const res = await Promise.race([sending, timedOut]);
    if (res === "timeout") {
      void sending.then(
        (late) => late.body?.cancel(),
        () => undefined,
      );
      return { failure: "timeout" };
    }
    return res.status >= 500 ? { failure: "server-error", res } : { failure: null, res };
  } catch {
    return { failure: abort.signal.aborted ? "timeout" : "connect-failure" };
  } finally {
    clearTimeout(timer);
  }
}

const unknownService = (service: string) =>
  new HttpProblem(404, { slug: "unknown-service", detail: `No service named "${service}" is routed by this gateway.` });

const retryAfter = (ms: number) => String(Math.max(1, Math.ceil(ms / 1000)));

function unavailable(service: string, slug: string, detail: string, retryAfterSeconds: string): HttpProblem {
  return new HttpProblem(503, { slug, detail: `${detail} (service ${service}).`, headers: { "Retry-After": retryAfterSeconds } });
}

/** The answer to a request whose last attempt failed and that is not retried. */
function failed(service: string, last: Attempt): Response {
  if (last.failure === "server-error") return downstreamResponse(last.res);
  if (last.failure === "timeout")
    throw new HttpProblem(504, { slug: "upstream-timeout", detail: `Service ${service} did not answer in time.` });
  throw new HttpProblem(502, { slug: "upstream-unreachable", detail: `Service ${service} could not be reached.` });
}

/**
 * How the incoming request is sent to an instance: the body buffered when a retry may need to send it again,
 * and each attempt's request built afresh for its instance.
 */
async function forwarding(
  c: Context<GatewayEnv>,
  upstreamPath: string,
  retry: RetryPolicy,
): Promise<{ replay: BodyReplay; requestTo: (target: Target) => Promise<Request> }> {
  const incoming = c.req.raw;
  const replay = bodyReplay(incoming.method, incoming.headers, incoming.body !== null, retry);
  const body = replay === "buffered" ? await incoming.arrayBuffer() : null;
  const url = new URL(incoming.url);
  const caller = c.get("auth") as AuthContext | undefined;
  const ctx: ForwardContext = {
    correlationId: c.get("correlationId"),
    traceparent: c.get("traceparent"),
    forwardCredentials: c.get("forwardCredentials") === true,
    clientIp: c.req.header("cf-connecting-ip"),
    host: url.host,
    proto: url.protocol.replace(":", ""),
  };
  const source = () => (body ? new Request(incoming.url, { method: incoming.method, headers: incoming.headers, body }) : incoming);
  const master = c.env.EVENT_SIGNING_SECRET;
  if (caller && !master) {
    // Checked before any instance is chosen: a gateway without the secret is not the instance's fault.
    throw new HttpProblem(503, {
      slug: "identity-not-configured",
      detail: "The gateway has no EVENT_SIGNING_SECRET, so it cannot assert the caller to the service; set the secret.",
    });
  }
  // The assertion is for the target's service, which verifies it: one instance may be another service's binding.
  const identity = async (target: Target) => (caller ? { identity: await identityFor(master, target.audience, caller) } : {});
  return {
    replay,
    requestTo: async (target) =>
      upstreamRequest(source(), upstreamPath, { ...ctx, overBinding: target.overBinding, ...(await identity(target)) }, target.base),
  };
}

/**
 * The `/api/:service/*` handler: each request goes to the next instance of the service in round-robin order
 * among those the registry reports passing (from its per-isolate discovery cache), skipping instances that
 * outlier detection ejected or whose circuit breaker is open; idempotent requests are retried on another
 * instance after a connection failure or a 5xx. Breaker and ejection state lives in this isolate, per
 * instance, as Envoy keeps it per host in each worker thread. Answers 503 with `Retry-After` when no instance
 * can take the request, 504 when the service's timeout (`UPSTREAM_TIMEOUT_MS`, `UPSTREAM_TIMEOUTS`) passes
 * before an answer, 502 when it cannot be reached; 3xx answers are returned as they are, never followed.
 * @example app.all("/api/:service/*", serviceProxy({ metrics: app.metrics }));
 */
export function serviceProxy(options: ServiceProxyOptions): (c: Context<GatewayEnv>) => Promise<Response> {
  const cache = options.cache ?? new RegistryCache();
  const now = options.now ?? Date.now;
  const retry = { ...DEFAULT_RETRY_POLICY, ...options.retry };
  const metrics = proxyMetrics(options.metrics);
  const pools = new Map<string, UpstreamPool>();
  const budgets = new Map<string, RetryBudget>();
  const budgetOf = (service: string): RetryBudget => {
    let budget = budgets.get(service);
    if (!budget) budgets.set(service, (budget = new RetryBudget(options.retryBudget)));
    return budget;
  };

  const poolOf = (service: string, timeoutMs: number): UpstreamPool => {
    let pool = pools.get(service);
    if (!pool) {
      const breaker = { ...DEFAULT_BREAKER_POLICY, probeTimeoutMs: timeoutMs, ...options.breaker };
      pool = new UpstreamPool({ breaker, outlier: { ...DEFAULT_OUTLIER_POLICY, ...options.outlier } });
      pools.set(service, pool);
    }
    return pool;
  };

  const observe = (service: string, events: readonly PoolEvent[], log: Logger): void => {
    for (const e of events) {
      if (e.kind === "breaker") {
        metrics.breakers.inc({ service, state: e.to });
        log.warn("circuit breaker changed state", { service, instance: e.key, from: e.from, to: e.to });
      } else {
        metrics.ejections.inc({ service });
        log.warn("instance ejected", { service, instance: e.key, until: new Date(e.until).toISOString(), ejections: e.ejections });
      }
    }
  };

  return async function serviceProxy(c) {
    const { service, rest } = apiPathOf(c);
    // `c.get` rather than `c.var`: Hono builds `c.var` afresh from every variable on each read.
    const log = c.get("log");
    const resolution = await resolve(c.env, service, new RegistryClient(c.env, { cache }), log);
    if (resolution.kind === "unknown") throw unknownService(service);
    if (resolution.kind === "discovery-failed") {
      metrics.unavailable.inc({ service, reason: "discovery-failed" });
      throw unavailable(service, "discovery-unavailable", "The service registry cannot be read right now", "1");
    }
    if (resolution.kind === "none-passing") {
      metrics.unavailable.inc({ service, reason: "no-healthy-instance" });
      throw unavailable(service, "no-healthy-instance", "No instance is passing its health checks", String(resolution.retryAfterSeconds));
    }
    const { targets } = resolution;
    const timeoutMs = timeoutFor(configFrom(c.env).timeouts, service);
    const deadline = Date.now() + timeoutMs;
    const pool = poolOf(service, timeoutMs);
    const budget = budgetOf(service);
    budget.request(now());

    const incoming = c.req.raw;
    const { replay, requestTo } = await forwarding(c, rest, retry);

    const tried = new Set<string>();
    let pick = pool.pick(targets, now(), tried);
    observe(service, pick.events, log);
    if (!pick.target) {
      metrics.unavailable.inc({ service, reason: "breakers-open" });
      throw unavailable(
        service,
        "breakers-open",
        "Every instance is ejected or its circuit breaker is open",
        retryAfter(pick.retryAt - now()),
      );
    }
    for (let retries = 0; ; retries++) {
      const { target, lease } = pick;
      tried.add(target.key);
      const result = await attempt(target, await requestTo(target), deadline - Date.now());
      // A client that went away fails the attempt, but says nothing about the instance.
      const instanceFailed = result.failure !== null && !incoming.signal.aborted;
      observe(service, pool.report(lease, instanceFailed, now()), log);
      metrics.attempts.inc({ service, outcome: result.failure ?? "success" });
      if (result.failure === null) return downstreamResponse(result.res);
      log.warn("upstream attempt failed", { service, instance: target.key, failure: result.failure, retries });
      const question = { method: incoming.method, headers: incoming.headers, body: replay, failure: result.failure, retries };
      if (!shouldRetry(question, retry) || Date.now() >= deadline) return failed(service, result);
      const next = pool.pick(targets, now(), tried);
      observe(service, next.events, log);
      if (!next.target) return failed(service, result);
      if (!budget.tryRetry(now())) {
        metrics.budgetExhausted.inc({ service });
        return failed(service, result);
      }
      if (result.failure === "server-error") await result.res.body?.cancel();
      metrics.retries.inc({ service });
      pick = next;
    }
  };
}
