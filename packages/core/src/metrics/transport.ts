import { createLogger, errorFields } from "../logger.ts";
import { MetricsAggregate } from "./aggregate.ts";
import type { MetricFamily, MetricsBatch } from "./families.ts";
import { DEFAULT_FLUSH_POLICY, MetricsBatchRefused, pusherOf, type FlushPolicy, type MetricsSink } from "./pusher.ts";
import type { MetricsRegistry } from "./registry.ts";

/** What the aggregator answers to a batch. */
export interface IngestResult {
  /** The batch (isolate, seq) was applied before: nothing changed. */
  duplicate: boolean;
  /** Families refused because their type or buckets differ from the aggregated ones. */
  conflicts: string[];
  /** New series dropped because the aggregator is full. */
  dropped: number;
}

/** The methods of a `MetricsAggregator` stub that workers call. */
export interface AggregatorStub {
  ingest(batch: MetricsBatch): Promise<IngestResult>;
  families(): Promise<MetricFamily[]>;
  forget(match: Readonly<Record<string, readonly string[]>>): Promise<number>;
}

/** The slice of the `METRICS_AGGREGATOR` Durable Object namespace binding that workers use. */
export interface AggregatorNamespace {
  idFromName(name: string): unknown;
  get(id: unknown): AggregatorStub;
}

/** Bindings through which a worker sends its metrics: the aggregator itself, or the gateway's HTTP API. */
export interface MetricsEnv {
  /** The gateway's `MetricsAggregator` namespace (the gateway binds it; other workers use HTTP). */
  METRICS_AGGREGATOR?: AggregatorNamespace;
  /** Number of aggregator objects (default 1); each isolate sends to one, chosen by its ID, and a scrape reads all. */
  METRICS_SHARDS?: string;
  /** The gateway's URL: without the binding, batches are POSTed to `<REGISTRY_URL>/api/foundation/metrics`. */
  REGISTRY_URL?: string;
  /** A service token whose subject is the service's name. */
  REGISTRY_TOKEN?: string;
  /** Longest wait in ms before an isolate sends its deltas (default 10000). */
  METRICS_FLUSH_INTERVAL_MS?: string;
}

/** The most aggregator objects a deployment may spread its isolates over. */
const MAX_SHARDS = 64;

/** Number of aggregator objects configured by `METRICS_SHARDS` (1 when unset or invalid). */
export function shardCount(env: MetricsEnv): number {
  const n = Number(env.METRICS_SHARDS ?? 1);
  return Number.isInteger(n) && n >= 1 && n <= MAX_SHARDS ? n : 1;
}

/**
 * Name of the aggregator object that receives an isolate's batches: a hash of the isolate ID, so retries of
 * a batch reach the same object and isolates spread evenly.
 * @example shardName("0b7c…", 4) // "metrics-2"
 */
export function shardName(isolate: string, shards: number): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < isolate.length; i++) hash = Math.imul(hash ^ isolate.charCodeAt(i), 0x01000193) >>> 0;
  return `metrics-${hash % shards}`;
}

/** How long a metrics push may take before the pusher gives up on it (it sends the same batch again later). */
const METRICS_PUSH_TIMEOUT_MS = 5000;

/**
 * `work`, or a `TimeoutError` once `ms` have passed. The work itself goes on (an RPC cannot be cancelled): a batch
 * that arrives late anyway is dropped as a duplicate when it is sent again.
 */
async function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DOMException(`${what} did not answer within ${ms} ms`, "TimeoutError")), ms);
  });
  try {
    return await Promise.race([work, expired]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

/** A sink that calls the aggregator object over RPC, giving up after `timeoutMs`. */
export function aggregatorSink(ns: AggregatorNamespace, shards: number, timeoutMs = METRICS_PUSH_TIMEOUT_MS): MetricsSink {
  return async (batch) => {
    const name = shardName(batch.isolate, shards);
    await within(ns.get(ns.idFromName(name)).ingest(batch), timeoutMs, `metrics aggregator ${name}`);
  };
}

/**
 * A sink that POSTs to the gateway's `/api/foundation/metrics` with a service token, giving up after `timeoutMs`;
 * a 400 or 413 answer means the batch can never be accepted, so the pusher drops it.
 * @example httpSink("https://gateway.example.com", env.REGISTRY_TOKEN)
 */
export function httpSink(
  gatewayUrl: string,
  token: string,
  send: (req: Request) => Promise<Response> = (r) => fetch(r),
  timeoutMs = METRICS_PUSH_TIMEOUT_MS,
): MetricsSink {
  const url = `${gatewayUrl.replace(/\/+$/, "")}/api/foundation/metrics`;
  return async (batch) => {
    const res = await send(
      new Request(url, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(batch),
        redirect: "manual",
        signal: AbortSignal.timeout(timeoutMs),
      }),
    );
    await res.body?.cancel();
    if (res.status === 400 || res.status === 413) throw new MetricsBatchRefused(`metrics push to ${url} refused the batch (${res.status})`);
    if (!res.ok) throw new Error(`metrics push to ${url} answered ${res.status}`);
  };
}

/** The flush policy: `METRICS_FLUSH_INTERVAL_MS` when set, else `defaults`, else {@link DEFAULT_FLUSH_POLICY}. */
export function flushPolicyFrom(env: MetricsEnv, defaults: Partial<FlushPolicy> = {}): FlushPolicy {
  const fromEnv = Number(env.METRICS_FLUSH_INTERVAL_MS);
  const intervalMs = Number.isFinite(fromEnv) && fromEnv > 0 ? fromEnv : (defaults.intervalMs ?? DEFAULT_FLUSH_POLICY.intervalMs);
  return { intervalMs, maxRequests: defaults.maxRequests ?? DEFAULT_FLUSH_POLICY.maxRequests };
}

/** The sink a worker's bindings allow: RPC when it binds the aggregator, else HTTP to the gateway, else none. */
export function sinkFromEnv(env: MetricsEnv): MetricsSink | undefined {
  if (env.METRICS_AGGREGATOR) return aggregatorSink(env.METRICS_AGGREGATOR, shardCount(env));
  if (env.REGISTRY_URL && env.REGISTRY_TOKEN) return httpSink(env.REGISTRY_URL, env.REGISTRY_TOKEN);
  return undefined;
}

/**
 * Every aggregator object's families merged into one set (a series split over objects adds up), plus
 * `extra` families computed at scrape time.
 * @example renderFamilies(await aggregatedFamilies(env.METRICS_AGGREGATOR, shardCount(env)));
 */
export async function aggregatedFamilies(
  ns: AggregatorNamespace,
  shards: number,
  extra: readonly MetricFamily[] = [],
): Promise<MetricFamily[]> {
  const parts = await Promise.all(Array.from({ length: shards }, (_, i) => ns.get(ns.idFromName(`metrics-${i}`)).families()));
  const merged = new MetricsAggregate({ maxSeries: Infinity });
  for (const families of [...parts, extra]) merged.merge(families);
  return merged.families();
}

/**
 * Drops, from every aggregator object, the series whose labels match `match` (see `MetricsAggregate.forget`);
 * answers how many went.
 * @example await forgetSeries(env.METRICS_AGGREGATOR, shardCount(env), { stream: ["orders"] });
 */
export async function forgetSeries(
  ns: AggregatorNamespace,
  shards: number,
  match: Readonly<Record<string, readonly string[]>>,
): Promise<number> {
  const counts = await Promise.all(Array.from({ length: shards }, (_, i) => ns.get(ns.idFromName(`metrics-${i}`)).forget(match)));
  return counts.reduce((a, n) => a + n, 0);
}

/**
 * Sends a registry's deltas when the flush interval has passed: for Durable Objects, whose alarms and RPC
 * calls do not go through the service's request middleware. Failures are left for the next flush. `service`
 * names the series only when no service has created the registry's pusher yet (see {@link pusherOf}).
 * @example await flushMetricsIfDue(workerMetrics, this.env);
 */
export async function flushMetricsIfDue(registry: MetricsRegistry, env: MetricsEnv, service = "worker"): Promise<void> {
  const sink = sinkFromEnv(env);
  if (!sink) return;
  const pusher = pusherOf(registry, service);
  try {
    await pusher.flushIfDue(sink, flushPolicyFrom(env));
  } catch (err) {
    createLogger({ service: pusher.service, component: "metrics" }).warn("metrics flush failed", errorFields(err));
  }
}
