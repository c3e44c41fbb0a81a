import { OpenAPIHono } from "@hono/zod-openapi";
import { createDb, type DbEnv } from "@foundation/db";
import { registerSelf, type SelfRegistrationEnv } from "@foundation/registry/client";
import { sql } from "drizzle-orm";
import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { matchedRoutes } from "hono/route";
import { IDENTITY_HEADER, verifyIdentity } from "./auth/identity.ts";
import type { AuthContext } from "./auth/types.ts";
import { corsFromEnv } from "./cors.ts";
import { setSecureHeaders } from "./response-headers.ts";
import {
  aggregatedFamilies,
  aggregatorSink,
  createLogger,
  errorFields,
  type FlushPolicy,
  flushPolicyFrom,
  HttpProblem,
  type Logger,
  type LogSink,
  type MetricFamily,
  type MetricsEnv,
  MetricsRegistry,
  problemResponse,
  PROMETHEUS_CONTENT_TYPE,
  pusherOf,
  type RedisEnv,
  redisFrom,
  renderFamilies,
  shardCount,
  sinkFromEnv,
  toProblem,
  validationProblem,
  writableHeaders,
  childSpan,
  formatTraceparent,
  nextTurn,
  parseTraceparent,
} from "@foundation/core";
import { credentialsOf } from "./auth/jwt.ts";
import { bearerMatches, mayReadHealthErrors, runHealthChecks, withoutErrors, type DependencyCheck } from "./health.ts";
import { deliveryEndpoint, type EventHandler } from "./subscribe.ts";
import { jobEndpoint, type JobHandler } from "./jobs.ts";
import { JOB_PATH } from "@foundation/jobs/worker";
import { DELIVERY_PATH } from "@foundation/event-bus/subscriber";

/** Bindings the kit understands; every one is optional so a service only declares what it uses. */
export type ServiceEnv = Partial<RedisEnv & DbEnv> &
  SelfRegistrationEnv &
  MetricsEnv & {
    /** Browser origins allowed to call the service (see `ServiceVars`). */
    CORS_ORIGINS?: string;
    /** `local` in dev and tests, `staging` or `production` when deployed. */
    ENVIRONMENT?: string;
    /** `GET /metrics` requires `Authorization: Bearer <METRICS_TOKEN>`; without it, /metrics answers only where `ENVIRONMENT` is `local`. */
    METRICS_TOKEN?: string;
    /** This service's delivery secret (`whsec_…`), derived from the bus's own: `npm run --silent service-secret -- <name>`. */
    EVENT_SIGNING_SECRET?: string;
  };

/** Whether a dependency must be up for the service to report `ok`. */
export type DependencyMode = "required" | "optional" | false;

/** Per-request values the kit puts on the context. */
export interface ServiceVariables {
  /** The request's correlation ID: taken from `X-Correlation-Id` when valid, else generated. */
  correlationId: string;
  /** The W3C trace id: continued from the request's `traceparent`, else a new trace. */
  traceId: string;
  /** This service's span of the trace, as a `traceparent` to send on calls it makes (`c.var.fetch` does). */
  traceparent: string;
  /** Logger whose lines carry the service name, the correlation ID and the trace ID. */
  log: Logger;
  /** `fetch` that propagates the correlation ID and the trace context to the callee. */
  fetch: typeof fetch;
  /** Runs a promise after the response, through `waitUntil`; failures are logged, never dropped silently. */
  defer: (task: Promise<unknown>) => void;
  requestId: string;
  /**
   * The request runs after a turn of the event loop: its own (see `nextTurn`) or, forwarded over a service binding
   * (`HOP_HEADER`), the gateway's. The rate limiter then takes none.
   */
  turnTaken: boolean;
  /** The verified caller, set by `requireAuth`. */
  auth: AuthContext;
}

/**
 * Set by the gateway, with the value `binding`, on a request it forwards over a service binding. Such a request arrives
 * while the gateway's own request runs, which already took its turn of the event loop, so the kit runs its route
 * without taking another. A hint about scheduling only: it changes when the route runs, nothing else.
 */
export const HOP_HEADER = "X-Foundation-Hop";

/** Options of {@link createService}. */
export interface ServiceOptions<E extends ServiceEnv> {
  name: string;
  version: string;
  /** Dependencies checked by `GET /health`; both default to `required` when their bindings are present. */
  dependencies?: { redis?: DependencyMode; postgres?: DependencyMode };
  /** Extra health checks, e.g. a downstream service. */
  checks?: (env: E) => Record<string, DependencyCheck>;
  /** Largest accepted request body; larger bodies get 413. Default 1 MiB. */
  bodyLimitBytes?: number;
  /** Request bodies must be JSON (415 otherwise). Default true; a proxy turns it off. */
  jsonBodiesOnly?: boolean;
  healthTimeoutMs?: number;
  /** Where log lines go (default: console, one JSON object per line). */
  logSink?: LogSink;
  /** The metrics registry; default: one per service per isolate. */
  metrics?: MetricsRegistry;
  /**
   * Sending the isolate's metric deltas to the aggregator after requests, through `waitUntil` (see
   * `MetricsEnv` for where they go); `false` turns it off. Default: every 10 s or 500 requests.
   */
  metricsFlush?: false | Partial<FlushPolicy>;
  /**
   * `GET /metrics` serves every worker's series summed by the `METRICS_AGGREGATOR` objects (after flushing
   * this isolate) instead of this isolate's own: what the gateway does. Default false.
   */
  aggregatedMetrics?: boolean;
  /** Families computed when `/metrics` is scraped (e.g. from a registry), served with the others. */
  scrapeFamilies?: (env: E) => Promise<MetricFamily[]>;
  /** Middleware run before the kit's `GET /health` and `GET /metrics`, which answer before any middleware the service adds. */
  guard?: MiddlewareHandler;
  /**
   * Self-registration in the service registry from the service's cron trigger (see {@link Service.scheduled});
   * `false` turns it off. Default TTL: 180 s.
   */
  registry?: false | { ttlSeconds?: number; metadata?: Record<string, string> };
}

/** The Hono environment of a service built with the kit. */
export type ServiceHonoEnv<E extends ServiceEnv> = { Bindings: E; Variables: ServiceVariables };

/** The app returned by {@link createService}: an OpenAPIHono plus the service's metrics and event subscriptions. */
export type Service<E extends ServiceEnv> = OpenAPIHono<ServiceHonoEnv<E>> & {
  metrics: MetricsRegistry;
  serviceName: string;
  /** Handles events of `stream` delivered by a Foundation subscription whose target is this service. */
  subscribe: (stream: string, handler: EventHandler<E>) => void;
  /**
   * Runs the jobs of `queue`, a Foundation job queue whose target is this service: one handler per queue, or per
   * `prefix*` of queue names (the longest match wins).
   */
  job: (queue: string, handler: JobHandler<E>) => void;
  /**
   * The cron handler: runs the health checks and registers the service in the registry, or heartbeats
   * its instance with the resulting status (`passing`, `warning` when an optional dependency is down,
   * `critical` when a required one is). Exported with the app, it runs on every cron trigger.
   */
  scheduled: (controller: unknown, env: E, ctx?: unknown) => Promise<void>;
};

const JSON_MEDIA = /^application\/([\w.-]+\+)?json$/i;

/**
 * Whether a `Content-Type` names JSON (`application/json` or `application/<suffix>+json`), its parameters aside.
 * @example isJsonMediaType("application/cloudevents+json; charset=utf-8") // true
 */
export function isJsonMediaType(contentType: string | undefined): boolean {
  return JSON_MEDIA.test(contentType?.split(";")[0]?.trim() ?? "");
}
/** A caller's `X-Correlation-Id` is kept when it is at most this long and made of `[A-Za-z0-9_=-]` (Hono's request-id rules). */
const MAX_CORRELATION_ID = 128;
const CORRELATION_ID = /^[\w\-=]+$/;

/** The request's correlation id: the caller's, when valid, else a new UUID. */
function correlationIdOf(header: string | undefined): string {
  return header && header.length <= MAX_CORRELATION_ID && CORRELATION_ID.test(header) ? header : crypto.randomUUID();
}

const BODY_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/**
 * The route pattern of the handler that answers the request, for low-cardinality metric labels: the first
 * matched route that is not middleware (a catch-all registered later, such as the gateway's
 * `/api/:service/*`, also matches but never runs).
 */
function handledRoute(c: Context): string {
  return matchedRoutes(c).find((r) => !(r.method === "ALL" && r.handler.length >= 2))?.path ?? "unmatched";
}

function dependencyChecks<E extends ServiceEnv>(env: E, options: ServiceOptions<E>): Record<string, DependencyCheck> {
  const checks: Record<string, DependencyCheck> = {};
  const redisMode = options.dependencies?.redis ?? "required";
  if (redisMode && env.UPSTASH_REDIS_REST_URL && env.UPSTASH_REDIS_REST_TOKEN) {
    const redis = redisFrom(env as RedisEnv);
    checks.redis = { required: redisMode === "required", probe: () => redis.ping() };
  }
  const pgMode = options.dependencies?.postgres ?? "required";
  if (pgMode && env.DATABASE_URL) {
    const db = createDb(env as DbEnv);
    checks.postgres = { required: pgMode === "required", probe: () => db.execute(sql`select 1`) };
  }
  return { ...checks, ...options.checks?.(env) };
}

/**
 * Refuses request bodies that are not JSON with 415, before any handler reads them.
 * @example foundationRoutes.use(jsonBodiesOnly());
 */
export const jsonBodiesOnly = (): MiddlewareHandler =>
  async function jsonBodiesOnly(c, next) {
    refuseNonJsonBody(c);
    await next();
  };

/** Throws 415 when a request with a body (`POST`, `PUT`, `PATCH`, `DELETE`, not empty) does not say it is JSON. */
function refuseNonJsonBody(c: Context): void {
  if (
    c.req.raw.body !== null &&
    BODY_METHODS.has(c.req.method) &&
    c.req.header("content-length") !== "0" &&
    !isJsonMediaType(c.req.header("content-type"))
  ) {
    throw new HttpProblem(415, { slug: "unsupported-media-type", detail: "Request bodies must be application/json." });
  }
}

/**
 * The checks a request passes before its route, in one middleware: a body over `maxBody` bytes is a 413 (Hono's
 * `bodyLimit`), a body that is not JSON a 415 (when `jsonOnly`, as {@link jsonBodiesOnly}), and the caller the
 * gateway asserts (`X-Foundation-Identity`, see `signIdentity`) becomes the request's verified caller, so
 * `requireAuth` and `c.var.auth` work behind the gateway without the caller's own credentials. An assertion that does
 * not verify for this service is a 401. A request without a body or an assertion passes straight on.
 */
function requestGates(service: string, maxBody: number, jsonOnly: boolean): MiddlewareHandler<ServiceHonoEnv<ServiceEnv>> {
  const limit = bodyLimit({
    maxSize: maxBody,
    onError: () => {
      throw new HttpProblem(413, { slug: "body-too-large", detail: `Request bodies are limited to ${maxBody} bytes.` });
    },
  });
  const afterBody = async (c: Context<ServiceHonoEnv<ServiceEnv>>, next: () => Promise<void>, assertion: string | undefined) => {
    if (jsonOnly) refuseNonJsonBody(c);
    if (assertion !== undefined) {
      const secret = c.env.EVENT_SIGNING_SECRET;
      if (!secret) throw new HttpProblem(401, { slug: "unauthorized", detail: "This service cannot verify identity assertions." });
      c.set("auth", await verifyIdentity(secret, service, assertion, Date.now()));
    }
    await next();
  };
  return async function requestGates(c, next) {
    const assertion = c.req.header(IDENTITY_HEADER);
    if (c.req.raw.body === null) return assertion === undefined ? next() : afterBody(c, next, assertion);
    await limit(c, () => afterBody(c, next, assertion));
  };
}

/**
 * A request that carries `correlationId` in `X-Correlation-Id` and the caller's span in `traceparent`, unless the
 * caller set them already.
 * @example await fetch(correlatedRequest("https://billing.internal/invoices", { method: "POST" }, c.var.correlationId, c.var.traceparent));
 */
export function correlatedRequest(
  input: Request | string | URL,
  init: RequestInit | undefined,
  correlationId: string,
  traceparent?: string,
): Request {
  const req = new Request(input, init);
  if (!req.headers.has("X-Correlation-Id")) req.headers.set("X-Correlation-Id", correlationId);
  if (traceparent && !req.headers.has("traceparent")) req.headers.set("traceparent", traceparent);
  return req;
}

/**
 * Creates a service: a Hono app (OpenAPIHono, so routes can carry their zod schemas into OpenAPI)
 * with correlation IDs, structured logs, problem+json errors, validation, body limits, secure headers,
 * `GET /health` and `GET /metrics` already wired.
 * @example
 * const app = createService<Env>({ name: "example", version: "1.0.0" });
 * app.get("/hello", (c) => c.json({ hello: "world", correlationId: c.var.correlationId }));
 * export default app satisfies ExportedHandler<Env>;
 */
export function createService<E extends ServiceEnv>(options: ServiceOptions<E>): Service<E> {
  const { name, version } = options;
  const baseLog = createLogger({ service: name, version }, options.logSink);
  const metrics = options.metrics ?? new MetricsRegistry();
  const requests = metrics.counter("foundation_http_requests_total", "HTTP requests served, by route and status");
  const duration = metrics.histogram("foundation_http_request_duration_seconds", "HTTP request duration in seconds, by route");
  const maxBody = options.bodyLimitBytes ?? 1024 * 1024;
  const pusher = pusherOf(metrics, name);
  // Each method, route and status's two series, kept rather than looked up by their labels on every request: as many
  // entries as the families have series.
  const routeSeries = new Map<string, { served: (seconds: number) => void }>();
  const seriesOf = (method: string, route: string, status: string) => {
    const key = `${method} ${status} ${route}`;
    let series = routeSeries.get(key);
    if (!series) {
      const count = requests.labels({ service: name, method, route, status });
      const latency = duration.labels({ service: name, method, route });
      series = {
        served: (seconds) => {
          count.inc();
          latency.observe(seconds);
        },
      };
      routeSeries.set(key, series);
    }
    return series;
  };

  const app = new OpenAPIHono<ServiceHonoEnv<E>>({
    defaultHook: (result) => {
      if (!result.success) throw validationProblem(result.error, result.target);
    },
  });

  // Metric sink and flush policy by env object: built once per env, not per request.
  const flushSettings = new WeakMap<E, { sink: ReturnType<typeof sinkFromEnv>; policy: FlushPolicy }>();
  const flushOf = (env: E) => {
    let settings = flushSettings.get(env);
    if (!settings) {
      const sink = options.metricsFlush === false ? undefined : sinkFromEnv(env);
      settings = { sink, policy: flushPolicyFrom(env, options.metricsFlush || {}) };
      flushSettings.set(env, settings);
    }
    return settings;
  };

  // One middleware for the correlation id (taken or made), the request's context, CORS, and after the handler the
  // answer's headers, the metrics and the log line; one more for the checks before the route (`requestGates`). Every
  // request passes through both, so they are two async frames rather than one per concern, and the headers are set
  // once on the final response.
  const cors = corsFromEnv();
  const context: MiddlewareHandler<ServiceHonoEnv<E>> = async function serviceContext(c, next) {
    const correlationId = correlationIdOf(c.req.header("X-Correlation-Id"));
    c.set("requestId", correlationId);
    const span = childSpan(parseTraceparent(c.req.header("traceparent")));
    const traceparent = formatTraceparent(span);
    const log = baseLog.child({ correlationId, traceId: span.traceId });
    c.set("correlationId", correlationId);
    c.set("traceId", span.traceId);
    c.set("traceparent", traceparent);
    c.set("log", log);
    c.set("fetch", (input, init) => fetch(correlatedRequest(input, init, correlationId, traceparent)));
    const defer = (task: Promise<unknown>) => {
      const guarded = task.catch((err: unknown) => log.error("deferred task failed", errorFields(err)));
      try {
        c.executionCtx.waitUntil(guarded);
      } catch {
        // No ExecutionContext (app.request() in a unit test): the promise still runs, guarded.
        void guarded;
      }
    };
    c.set("defer", defer);
    const started = performance.now();
    // One turn of the event loop before the route: requests that arrive together then run back to back after one poll
    // instead of one per poll, which costs less CPU each under load (see `nextTurn`). A request forwarded over a
    // binding runs within the gateway's turn (see `HOP_HEADER`).
    if (c.req.header(HOP_HEADER) !== "binding") await nextTurn();
    c.set("turnTaken", true);
    // CORS and the secure headers are part of this frame too, set once the handler has answered; a preflight gets its
    // CORS answer only.
    const preflight = await cors(c, next);
    if (preflight && !c.finalized) c.res = preflight;
    const headers = writableHeaders(c);
    if (!preflight) setSecureHeaders(headers);
    headers.set("X-Correlation-Id", correlationId);
    const seconds = (performance.now() - started) / 1000;
    const route = handledRoute(c);
    const status = String(c.res.status);
    seriesOf(c.req.method, route, status).served(seconds);
    const { sink, policy } = flushOf(c.env);
    const flush = sink && pusher.afterRequest(sink, policy);
    if (flush) defer(flush);
    log.info("request", {
      method: c.req.method,
      path: c.req.path,
      route,
      status: c.res.status,
      durationMs: Math.round(seconds * 1e6) / 1e3,
    });
  };
  app.use(context);
  app.use(requestGates(name, maxBody, options.jsonBodiesOnly ?? true));

  app.onError((err, c) => {
    const { problem, headers, internal } = toProblem(err);
    if (internal) (c.get("log") as Logger | undefined)?.error("unhandled error", errorFields(err));
    return problemResponse(c, problem, headers);
  });
  app.notFound((c) =>
    problemResponse(c, { type: "about:blank", title: "Not Found", status: 404, detail: `No route for ${c.req.method} ${c.req.path}.` }),
  );

  if (options.guard) for (const path of ["/health", "/metrics"]) app.use(path, options.guard);

  app.get("/health", async (c) => {
    const report = await runHealthChecks(name, version, dependencyChecks(c.env, options), options.healthTimeoutMs);
    const detailed = await mayReadHealthErrors(credentialsOf(c.req), c.env, c.get("auth"));
    return c.json(detailed ? report : withoutErrors(report), report.status === "ok" ? 200 : 503);
  });

  app.get("/metrics", async (c) => {
    const token = c.env.METRICS_TOKEN;
    if (!token && c.env.ENVIRONMENT !== "local") {
      throw new HttpProblem(503, { slug: "metrics-not-configured", detail: "/metrics is served only with METRICS_TOKEN set." });
    }
    if (token && !(await bearerMatches(c.req.header("authorization"), token))) {
      throw new HttpProblem(401, { detail: "A bearer token is required for /metrics.", headers: { "WWW-Authenticate": "Bearer" } });
    }
    const extra = (await options.scrapeFamilies?.(c.env)) ?? [];
    const aggregator = options.aggregatedMetrics ? c.env.METRICS_AGGREGATOR : undefined;
    if (!aggregator) return c.body(renderFamilies([...metrics.collect(), ...extra]), 200, { "Content-Type": PROMETHEUS_CONTENT_TYPE });
    const shards = shardCount(c.env);
    await pusher
      .flush(aggregatorSink(aggregator, shards))
      .catch((err: unknown) => c.var.log.warn("metrics flush before scrape failed", errorFields(err)));
    const families = await aggregatedFamilies(aggregator, shards, extra);
    return c.body(renderFamilies(families), 200, { "Content-Type": PROMETHEUS_CONTENT_TYPE });
  });

  const subscriptions = new Map<string, EventHandler<E>[]>();
  app.post(DELIVERY_PATH, deliveryEndpoint(subscriptions, metrics));
  const subscribe = (stream: string, handler: EventHandler<E>) => {
    subscriptions.set(stream, [...(subscriptions.get(stream) ?? []), handler]);
  };

  const jobHandlers = new Map<string, JobHandler<E>>();
  app.post(JOB_PATH, jobEndpoint(jobHandlers, metrics));
  const job = (queue: string, handler: JobHandler<E>) => {
    jobHandlers.set(queue, handler);
  };

  const scheduled = async (_controller: unknown, env: E): Promise<void> => {
    if (options.registry === false) return;
    const report = await runHealthChecks(name, version, dependencyChecks(env, options), options.healthTimeoutMs);
    const failing = Object.entries(report.checks).filter(([, r]) => !r.ok);
    const status = report.status === "degraded" ? "critical" : failing.length > 0 ? "warning" : "passing";
    const output = failing.length > 0 ? failing.map(([check, r]) => `${check}: ${r.error ?? "failed"}`).join("; ") : "all checks passing";
    try {
      const outcome = await registerSelf(env, { service: name, version, status, output, ...options.registry });
      baseLog[outcome.action === "refused" ? "warn" : "info"]("registry self-registration", { ...outcome, status });
    } catch (err) {
      baseLog.error("registry self-registration failed", errorFields(err));
    }
  };

  return Object.assign(app, { metrics, serviceName: name, subscribe, job, scheduled });
}
