/**
 * Open-loop HTTP load: requests are sent on a fixed schedule whether or not earlier ones were answered, and each
 * latency runs from the request's scheduled send time, so a stall shows up in the percentiles instead of pausing
 * the generator (coordinated omission). wrk, `hey` and autocannon are closed loops; wrk2, vegeta and oha are not
 * installable here, hence this small generator on an undici `Pool`.
 */
import { Pool } from "undici";
import { percentile } from "./latency.ts";

/** How long the generator keeps a socket with no request open: below workerd's 5-s keep-alive idle timeout. */
const IDLE_SOCKET_MS = 2_000;

/** Options of {@link runOpenLoop}. */
export interface OpenLoopOptions {
  url: string;
  headers?: Record<string, string>;
  /** Requests per second offered. */
  rate: number;
  durationSec: number;
  /** Connections the pool may open; enough that a stall does not also queue requests behind busy sockets. */
  connections?: number;
  /** A request unanswered after this long counts as an error (default 10 s). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** What an open-loop run saw. */
export interface OpenLoopResult {
  rate: number;
  sent: number;
  /** 2xx answers. */
  ok: number;
  /** Non-2xx answers, socket errors, timeouts, and requests still unanswered `timeoutMs` after the last send. */
  errors: number;
  /** The errors by kind: `status <code>`, the client's error code (`UND_ERR_SOCKET`, `ECONNRESET`…), `unanswered`. */
  errorKinds: Record<string, number>;
  /** Latency from the scheduled send time to the last byte, of every answered request (ms). */
  p50: number;
  p99: number;
  p999: number;
  max: number;
  /** How late the generator itself sent, at its 99th percentile (ms): a check that Node kept the schedule. */
  sendLagP99: number;
}

/**
 * Sends `rate` GETs a second to `url` for `durationSec`, each at its scheduled time, and waits for the last answer.
 * @example const r = await runOpenLoop({ url, rate: 2000, durationSec: 60 }); r.p99
 */
export async function runOpenLoop(opts: OpenLoopOptions): Promise<OpenLoopResult> {
  const url = new URL(opts.url);
  // workerd closes a keep-alive connection after 5 s without a request and sends no `Keep-Alive` hint, so an idle socket
  // is closed here first (2 s): a request written to a socket the server is closing fails with ECONNRESET, which is
  // the generator's race, not the target's error. At low rates most of the pool idles between bursts.
  const pool = new Pool(url.origin, {
    connections: opts.connections ?? 256,
    pipelining: 1,
    keepAliveTimeout: IDLE_SOCKET_MS,
    keepAliveMaxTimeout: IDLE_SOCKET_MS,
  });
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const total = Math.round(opts.rate * opts.durationSec);
  const latencies = new Float64Array(total);
  const lags = new Float64Array(total);
  let answered = 0;
  let ok = 0;
  let errors = 0;
  let abandoned = 0;
  const errorKinds: Record<string, number> = {};
  const failed = (kind: string) => {
    errors++;
    errorKinds[kind] = (errorKinds[kind] ?? 0) + 1;
  };
  const inFlight = new Set<Promise<void>>();
  const path = url.pathname + url.search;

  const send = (scheduled: number) => {
    const p = pool
      .request({ path, method: "GET", headers: opts.headers, headersTimeout: timeoutMs, bodyTimeout: timeoutMs })
      .then(async (res) => {
        await res.body.dump();
        if (abandoned > 0) return;
        const ms = performance.now() - scheduled;
        latencies[answered++] = ms;
        if (res.statusCode >= 200 && res.statusCode < 300) ok++;
        else failed(`status ${res.statusCode}`);
      })
      .catch((err: unknown) => {
        const code = (err as { code?: unknown }).code;
        if (abandoned === 0) failed(typeof code === "string" ? code : err instanceof Error ? err.name : "error");
      });
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
  };

  try {
    const start = performance.now();
    let next = 0;
    while (next < total) {
      opts.signal?.throwIfAborted();
      const now = performance.now();
      while (next < total) {
        const scheduled = start + (next * 1000) / opts.rate;
        if (scheduled > now) break;
        lags[next] = now - scheduled;
        send(scheduled);
        next++;
      }
      // A timer rather than spinning on setImmediate, which would take a core from workerd on this 2-core machine;
      // Node's timers fire at 1 ms granularity, so at a few thousand a second requests leave in small bunches.
      const wait = Math.max(1, start + (next * 1000) / opts.rate - performance.now());
      await new Promise<void>((r) => setTimeout(r, wait));
    }
    // An overloaded target leaves a backlog behind the schedule: what is not answered `timeoutMs` after the last
    // scheduled send counts as an error, instead of the run draining it for minutes.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const drained = await Promise.race([
      Promise.all(inFlight).then(() => true),
      new Promise<false>((r) => (timer = setTimeout(() => r(false), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (!drained) {
      errors += inFlight.size;
      errorKinds.unanswered = inFlight.size;
      abandoned = inFlight.size;
    }
  } finally {
    await (abandoned > 0 ? pool.destroy() : pool.close()).catch(() => undefined);
  }
  const seen = Array.from(latencies.subarray(0, answered));
  const pct = (p: number) => (seen.length > 0 ? percentile(seen, p) : Number.NaN);
  return {
    rate: opts.rate,
    sent: total,
    ok,
    errors,
    errorKinds,
    p50: pct(50),
    p99: pct(99),
    p999: pct(99.9),
    max: seen.length > 0 ? seen.reduce((a, b) => Math.max(a, b), 0) : Number.NaN,
    sendLagP99: percentile(Array.from(lags), 99),
  };
}
