import createClient, { type Client } from "openapi-fetch";
import type { paths } from "./schema.d.ts";

export type { components, paths } from "./schema.d.ts";

/** Options of {@link createFoundationClient}. */
export interface FoundationClientOptions {
  /** The gateway's origin, e.g. `https://foundation.rankmybrand.ai`, or any origin when `fetch` is a service binding. */
  baseUrl: string;
  /** Bearer token sent on every request, or a function returning a fresh one (called per request). */
  token?: string | (() => string | Promise<string>);
  /** Correlation ID to propagate, so the calls join the caller's trace. */
  correlationId?: string;
  /** Transport, e.g. `env.GATEWAY.fetch.bind(env.GATEWAY)` for a service binding; default global `fetch`. */
  fetch?: (request: Request) => Promise<Response>;
}

/** The typed client: `GET`, `POST`, `PUT`, `DELETE` with paths, parameters and bodies checked against the API. */
export type FoundationClient = Client<paths>;

/** An RFC 9457 problem document, as every Foundation error is rendered. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  correlationId?: string;
  errors?: { path: (string | number)[]; message: string }[];
  [extension: string]: unknown;
}

/** A non-2xx answer of the API, with its problem document. */
export class FoundationError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem,
    readonly response: Response,
  ) {
    super(`${status} ${problem.title}${problem.detail ? `: ${problem.detail}` : ""}`);
    this.name = "FoundationError";
  }
}

/**
 * A typed client for the Foundation API, generated from the gateway's OpenAPI document.
 * @example
 * const foundation = createFoundationClient({ baseUrl: env.FOUNDATION_URL, token: env.FOUNDATION_TOKEN });
 * const { id } = unwrap(await foundation.POST("/api/foundation/events/{stream}", {
 *   params: { path: { stream: "ai.responses.raw" } },
 *   body: { type: "ai.response.received", data: { brand: "acme" } },
 * }));
 */
export function createFoundationClient(options: FoundationClientOptions): FoundationClient {
  const client = createClient<paths>({ baseUrl: options.baseUrl, ...(options.fetch ? { fetch: options.fetch } : {}) });
  client.use({
    async onRequest({ request }) {
      const token = typeof options.token === "function" ? await options.token() : options.token;
      if (token) request.headers.set("Authorization", `Bearer ${token}`);
      if (options.correlationId) request.headers.set("X-Correlation-Id", options.correlationId);
      return request;
    },
  });
  return client;
}

/** The outcome of one typed call. */
interface CallResult<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/**
 * The body of a successful call, or a {@link FoundationError} carrying the problem document.
 * @example const { services } = unwrap(await foundation.GET("/api/foundation/services"));
 */
export function unwrap<T>(result: CallResult<T>): T {
  const { response } = result;
  if (response.ok) return result.data as T;
  const problem = isProblem(result.error)
    ? result.error
    : {
        type: "about:blank",
        title: response.statusText || "Error",
        status: response.status,
        detail: typeof result.error === "string" ? result.error : JSON.stringify(result.error ?? null),
      };
  throw new FoundationError(response.status, problem, response);
}

function isProblem(value: unknown): value is Problem {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as Problem).status === "number" &&
    typeof (value as Problem).title === "string"
  );
}
