import { describe, expect, it } from "vitest";
import { bodyReplay, DEFAULT_RETRY_POLICY, isIdempotent, shouldRetry, type RetryQuestion } from "./retry-policy.ts";

const ask = (q: Partial<RetryQuestion>) =>
  shouldRetry({ method: "GET", headers: new Headers(), body: "none", failure: "server-error", retries: 0, ...q }, DEFAULT_RETRY_POLICY);

describe("retry policy", () => {
  it("treats GET, HEAD, OPTIONS, PUT and DELETE as idempotent, POST and PATCH only with an Idempotency-Key", () => {
    for (const m of ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]) expect(isIdempotent(m, new Headers()), m).toBe(true);
    for (const m of ["POST", "PATCH"]) {
      expect(isIdempotent(m, new Headers()), m).toBe(false);
      expect(isIdempotent(m, new Headers({ "Idempotency-Key": "k-1" })), m).toBe(true);
    }
  });

  it("retries an idempotent request after a 5xx or a connection failure", () => {
    expect(ask({ failure: "server-error" })).toBe(true);
    expect(ask({ failure: "connect-failure", method: "DELETE" })).toBe(true);
  });

  it("never retries a POST or PATCH without an Idempotency-Key", () => {
    expect(ask({ method: "POST", body: "buffered" })).toBe(false);
    expect(ask({ method: "PATCH", body: "buffered", failure: "connect-failure" })).toBe(false);
    expect(ask({ method: "POST", body: "buffered", headers: new Headers({ "Idempotency-Key": "k-1" }) })).toBe(true);
  });

  it("never retries once a streamed body was consumed, nor after a timeout, nor past the retry limit", () => {
    expect(ask({ method: "PUT", body: "stream" })).toBe(false);
    expect(ask({ failure: "timeout" })).toBe(false);
    expect(ask({ retries: DEFAULT_RETRY_POLICY.maxRetries })).toBe(false);
  });

  it("buffers the body of a retryable request of declared, bounded length, and streams every other body", () => {
    const sized = (n: number, extra: Record<string, string> = {}) => new Headers({ "content-length": String(n), ...extra });
    expect(bodyReplay("GET", new Headers(), false, DEFAULT_RETRY_POLICY)).toBe("none");
    expect(bodyReplay("PUT", sized(10), true, DEFAULT_RETRY_POLICY)).toBe("buffered");
    expect(bodyReplay("PUT", new Headers(), true, DEFAULT_RETRY_POLICY)).toBe("stream");
    expect(bodyReplay("PUT", sized(DEFAULT_RETRY_POLICY.maxReplayBytes + 1), true, DEFAULT_RETRY_POLICY)).toBe("stream");
    expect(bodyReplay("POST", sized(10), true, DEFAULT_RETRY_POLICY)).toBe("stream");
    expect(bodyReplay("POST", sized(10, { "idempotency-key": "k" }), true, DEFAULT_RETRY_POLICY)).toBe("buffered");
  });
});
