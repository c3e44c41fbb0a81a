/**
 * Which proxied requests may be sent again, to another instance, after a failed attempt. Only requests
 * that are safe to repeat (RFC 9110 §9.2.2 idempotent methods, or a POST/PATCH carrying an
 * `Idempotency-Key`), only when their body can be sent again, only after a connection failure or a 5xx,
 * and at most `maxRetries` times.
 */

/** How often a request may be retried. */
export interface RetryPolicy {
  /** Retries after the first attempt, each on an instance not tried yet. */
  maxRetries: number;
  /** Largest request body buffered so that it can be sent again, in bytes; larger bodies are streamed once. */
  maxReplayBytes: number;
}

/** Defaults: up to 2 retries; bodies up to 1 MiB are buffered for them. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = { maxRetries: 2, maxReplayBytes: 1024 * 1024 };

/** Methods whose repetition has the same effect as one request (RFC 9110 §9.2.2), as the gateway retries them. */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);

/** What became of the request body: none, buffered (it can be sent again), or a stream that the first attempt consumes. */
export type BodyReplay = "none" | "buffered" | "stream";

/** How an attempt failed. */
export type AttemptFailure = "connect-failure" | "server-error" | "timeout";

/**
 * Whether repeating the request is safe: an idempotent method, or POST/PATCH with an `Idempotency-Key`.
 * @example isIdempotent("POST", new Headers({ "Idempotency-Key": "k1" })) // true
 */
export function isIdempotent(method: string, headers: Headers): boolean {
  return IDEMPOTENT_METHODS.has(method.toUpperCase()) || headers.has("idempotency-key");
}

/**
 * How the request body is handled: `buffered` when the request may be retried and declares a length up to
 * `maxReplayBytes`, `stream` otherwise, `none` without a body.
 * @example bodyReplay("PUT", new Headers({ "content-length": "12" }), true, DEFAULT_RETRY_POLICY) // "buffered"
 */
export function bodyReplay(method: string, headers: Headers, hasBody: boolean, policy: RetryPolicy): BodyReplay {
  if (!hasBody || method === "GET" || method === "HEAD") return "none";
  const length = Number(headers.get("content-length") ?? Number.NaN);
  const declared = Number.isSafeInteger(length) && length >= 0;
  return isIdempotent(method, headers) && declared && length <= policy.maxReplayBytes ? "buffered" : "stream";
}

/** One failed attempt and what the request allows. */
export interface RetryQuestion {
  method: string;
  headers: Headers;
  body: BodyReplay;
  failure: AttemptFailure;
  /** Retries already made. */
  retries: number;
}

/**
 * Whether to send the request again, to another instance: the request is idempotent, its body was not a
 * consumed stream, the attempt failed by connection or 5xx (a timeout has spent the request's time), and
 * retries are left.
 * @example shouldRetry({ method: "GET", headers: new Headers(), body: "none", failure: "server-error", retries: 0 }, DEFAULT_RETRY_POLICY) // true
 */
export function shouldRetry(q: RetryQuestion, policy: RetryPolicy): boolean {
  return q.retries < policy.maxRetries && q.failure !== "timeout" && q.body !== "stream" && isIdempotent(q.method, q.headers);
}
