import { SERVICE_NAME } from "@foundation/core";

/**
 * `/api/:service/*` parsed once, from the raw path, so that routing, authorization, quotas and the forwarded path
 * all see the same request: the service is the first segment decoded, and the path forwarded is the rest exactly
 * as the client sent it. A segment that hides a separator or a dot segment behind percent-encoding is refused: it
 * would mean one thing here and another upstream.
 */

/** A service request's path, parsed. */
export interface ApiPath {
  service: string;
  /** The path after `/api/<service>`, as the client sent it (percent-encoding kept), `/` when empty. */
  rest: string;
  /** The whole path decoded (`/api/<service>/<rest>`): what route rules and quotas match. */
  decoded: string;
}

/** Why a path cannot be routed: 400 (malformed) or 404 (no such service can exist). */
export interface ApiPathRefusal {
  status: 400 | 404;
  detail: string;
}

const ENCODED_SEPARATOR = /%(2f|5c)/i;

/**
 * Parses a raw request path (`new URL(req.url).pathname`, dot segments already resolved by the URL parser) under
 * `/api/`.
 * @example parseApiPath("/api/%62illing/invoices/7") // { service: "billing", rest: "/invoices/7", decoded: "/api/billing/invoices/7" }
 */
export function parseApiPath(raw: string): ApiPath | ApiPathRefusal {
  if (!raw.startsWith("/api/")) return { status: 404, detail: "Service paths start with /api/." };
  const segments = raw.slice("/api/".length).split("/");
  const decoded: string[] = [];
  for (const segment of segments) {
    if (ENCODED_SEPARATOR.test(segment)) return { status: 400, detail: "A path segment may not hide a / or \\ in percent-encoding." };
    let value: string;
    try {
      value = decodeURIComponent(segment);
    } catch {
      return { status: 400, detail: "The path has malformed percent-encoding." };
    }
    if (value === "." || value === "..") return { status: 400, detail: "A path segment may not be an encoded dot segment." };
    decoded.push(value);
  }
  const [service = "", ...rest] = decoded;
  if (!SERVICE_NAME.test(service)) return { status: 404, detail: `No service named "${service}" can exist.` };
  const [, ...rawRest] = segments;
  return { service, rest: `/${rawRest.join("/")}`, decoded: `/api/${service}/${rest.join("/")}` };
}

/** Whether a parse refused the path. */
export function isRefusal(p: ApiPath | ApiPathRefusal): p is ApiPathRefusal {
  return "status" in p;
}
