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

/** Service names that may appear in `/api/:service/*`. */
export const SERVICE_NAME = /^[a-z0-9-]{1,64}$/;

/** The env binding that serves a service: `ai-monitor` → `AI_MONITOR`. */
export function bindingName(service: string): string {
  return service.toUpperCase().replace(/-/g, "_");
}

/**
 * Finds the service binding for `service`, or undefined when no service binding of that name exists.
 * Bindings are RPC stubs that answer to any property name, so the runtime's own tag is what identifies
 * a service binding (`[object Fetcher]`) as opposed to a Durable Object namespace, a KV namespace or a var.
 */
export function serviceBinding(env: object, service: string): Fetcher | undefined {
  return SERVICE_NAME.test(service) ? bindingNamed(env, bindingName(service)) : undefined;
}

/** The service binding called `name` (`EXAMPLE`), or undefined when `env` has no service binding of that name. */
export function bindingNamed(env: object, name: string): Fetcher | undefined {
  const binding = (env as Record<string, unknown>)[name];
  return Object.prototype.toString.call(binding) === "[object Fetcher]" ? (binding as Fetcher) : undefined;
}

/** What the gateway knows about the client side of a request. */
export interface ForwardContext {
  correlationId: string;
  clientIp: string | undefined;
  host: string;
  proto: string;
}

/** Removes the hop-by-hop headers from `headers`, also those that its `Connection` header names. */
function stripHopByHop(headers: Headers): void {
  const named = (headers.get("connection") ?? "")
    .split(",")
    .map((h) => h.trim().toLowerCase())
    .filter(Boolean);
  for (const h of [...HOP_BY_HOP, ...named]) headers.delete(h);
}

/**
 * Builds the upstream request: the path after `/api/:service` appended to the path of `base` (the instance's
 * URL; a path like `//host` stays on the instance), hop-by-hop headers removed (also those named in
 * `Connection`), `X-Forwarded-*` and the correlation ID set, redirects never followed.
 */
export function upstreamRequest(incoming: Request, upstreamPath: string, ctx: ForwardContext, base: string): Request {
  const url = new URL(incoming.url);
  const target = new URL(`${base.replace(/\/+$/, "")}${upstreamPath}${url.search}`);
  const headers = new Headers(incoming.headers);
  stripHopByHop(headers);
  headers.set("X-Correlation-Id", ctx.correlationId);
  const prior = headers.get("X-Forwarded-For");
  if (ctx.clientIp) headers.set("X-Forwarded-For", prior ? `${prior}, ${ctx.clientIp}` : ctx.clientIp);
  headers.set("X-Forwarded-Host", ctx.host);
  headers.set("X-Forwarded-Proto", ctx.proto);
  const hasBody = incoming.method !== "GET" && incoming.method !== "HEAD";
  return new Request(target, { method: incoming.method, headers, body: hasBody ? incoming.body : null, redirect: "manual" });
}

/** The upstream's response as the gateway returns it: status, body and headers as they are (3xx included), less hop-by-hop headers. */
export function downstreamResponse(upstream: Response): Response {
  const res = new Response(upstream.body, upstream);
  stripHopByHop(res.headers);
  return res;
}
