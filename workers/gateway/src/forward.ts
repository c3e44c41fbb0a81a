import { HOP_HEADER } from "@foundation/service-kit";

/** Headers that describe one connection, not the message; a proxy must not pass them on (RFC 9110 §7.6.1). */
export const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
];

/** What the gateway knows about the client side of a request. */
export interface ForwardContext {
  correlationId: string;
  /** The caller as the gateway asserts it to this service (`X-Foundation-Identity`), when a caller was verified. */
  identity?: string;
  /** Pass the caller's own `Authorization`, `X-Api-Key` and cookies on (a route's `forwardCredentials`); default no. */
  forwardCredentials?: boolean;
  /**
   * The request goes over a service binding, inside this request's turn of the event loop: it says so (`HOP_HEADER`),
   * so the service runs it without a turn of its own. Default no, and a client's own hint is removed.
   */
  overBinding?: boolean;
  /** The gateway's span of the request's trace: the service continues it. */
  traceparent: string;
  clientIp: string | undefined;
  host: string;
  proto: string;
}

/** The caller's credentials: not passed to a service unless its route says so (a service gets an identity assertion). */
export const CREDENTIAL_HEADERS = ["authorization", "x-api-key", "cookie"];
/** The gateway's assertion of the caller: only the gateway sets it, never the client. */
export const IDENTITY_HEADER = "x-foundation-identity";

/** Removes the hop-by-hop headers from `headers`, also those that its `Connection` header names. */
function stripHopByHop(headers: Headers): void {
  const connection = headers.get("connection");
  if (connection !== null) {
    for (const h of connection.split(",")) {
      const name = h.trim();
      try {
        if (name !== "") headers.delete(name);
      } catch {
        // Not a header name, so no header to remove.
      }
    }
  }
  for (const h of HOP_BY_HOP) headers.delete(h);
}

/**
 * Builds the upstream request: the path after `/api/:service` appended to the path of `base` (the instance's
 * URL; a path like `//host` stays on the instance), hop-by-hop headers removed (also those named in
 * `Connection`), the caller's credentials removed and the gateway's identity assertion set in their place,
 * `X-Forwarded-*`, the correlation ID, the trace context and (over a binding) `X-Foundation-Hop` set, redirects never
 * followed.
 */
export function upstreamRequest(incoming: Request, upstreamPath: string, ctx: ForwardContext, base: string): Request {
  const query = incoming.url.indexOf("?");
  const search = query === -1 ? "" : incoming.url.slice(query);
  const hasBody = incoming.method !== "GET" && incoming.method !== "HEAD";
  // The `Request` copies the incoming headers once, and its own are edited in place: no intermediate `Headers`.
  const req = new Request(`${base.replace(/\/+$/, "")}${upstreamPath}${search}`, {
    method: incoming.method,
    headers: incoming.headers,
    body: hasBody ? incoming.body : null,
    redirect: "manual",
  });
  const headers = req.headers;
  stripHopByHop(headers);
  if (!ctx.forwardCredentials) for (const h of CREDENTIAL_HEADERS) headers.delete(h);
  if (ctx.identity) headers.set(IDENTITY_HEADER, ctx.identity);
  else headers.delete(IDENTITY_HEADER);
  if (ctx.overBinding) headers.set(HOP_HEADER, "binding");
  else headers.delete(HOP_HEADER);
  headers.set("X-Correlation-Id", ctx.correlationId);
  headers.set("traceparent", ctx.traceparent);
  const prior = headers.get("X-Forwarded-For");
  if (ctx.clientIp) headers.set("X-Forwarded-For", prior ? `${prior}, ${ctx.clientIp}` : ctx.clientIp);
  headers.set("X-Forwarded-Host", ctx.host);
  headers.set("X-Forwarded-Proto", ctx.proto);
  return req;
}

/** The upstream's response as the gateway returns it: status, body and headers as they are (3xx included), less hop-by-hop headers. */
export function downstreamResponse(upstream: Response): Response {
  const res = new Response(upstream.body, upstream);
  stripHopByHop(res.headers);
  return res;
}
