/**
 * Headers every response of a service carries: Hono's `secureHeaders()` defaults (helmet's), as a list built once
 * rather than per request.
 */
export const SECURE_HEADERS: readonly (readonly [string, string])[] = [
  ["Cross-Origin-Resource-Policy", "same-origin"],
  ["Cross-Origin-Opener-Policy", "same-origin"],
  ["Origin-Agent-Cluster", "?1"],
  ["Referrer-Policy", "no-referrer"],
  ["Strict-Transport-Security", "max-age=15552000; includeSubDomains"],
  ["X-Content-Type-Options", "nosniff"],
  ["X-DNS-Prefetch-Control", "off"],
  ["X-Download-Options", "noopen"],
  ["X-Frame-Options", "SAMEORIGIN"],
  ["X-Permitted-Cross-Domain-Policies", "none"],
  ["X-XSS-Protection", "0"],
];

/**
 * Sets {@link SECURE_HEADERS} on a response's headers, replacing a handler's own, as Hono's `secureHeaders()` with its
 * defaults does (`writableHeaders` removes `X-Powered-By`).
 * @example setSecureHeaders(writableHeaders(c));
 */
export function setSecureHeaders(headers: Headers): void {
  for (const [name, value] of SECURE_HEADERS) headers.set(name, value);
}
