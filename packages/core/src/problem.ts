import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { ZodError, type z } from "zod";

/** One failed field of a validation error, in the `errors` member of a problem. */
export interface ValidationIssue {
  /** JSON-pointer-like path of the offending field, e.g. `/body/message`. */
  pointer: string;
  message: string;
  code: string;
}

/** RFC 9457 problem details, before the correlation ID is added. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  errors?: ValidationIssue[];
  [extension: string]: unknown;
}

/** A problem as this platform renders it. */
export interface ProblemDetails extends Problem {
  correlationId?: string;
}

/**
 * The problem type of the IETF RateLimit header fields draft for a request refused because a quota is used up
 * (registered with IANA's HTTP problem types); answered with 429.
 */
export const QUOTA_EXCEEDED_TYPE = "https://iana.org/assignments/http-problem-types#quota-exceeded";

/** Options of an {@link HttpProblem}. */
export interface HttpProblemOptions {
  /** Short slug naming the problem type, rendered as `/problems/<slug>`; defaults to `about:blank`. */
  slug?: string;
  /** An absolute problem type URI from a registry (e.g. IANA's `…#quota-exceeded`); wins over `slug`. */
  type?: string;
  title?: string;
  detail?: string;
  errors?: ValidationIssue[];
  /** Extra response headers, e.g. `Retry-After`. */
  headers?: Record<string, string>;
  /** Extra members of the problem document. */
  extensions?: Record<string, unknown>;
  cause?: unknown;
}

const STATUS_TITLES: Record<number, string> = {
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  422: "Unprocessable Content",
  429: "Too Many Requests",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/**
 * A typed HTTP error rendered once, by the service's error handler, as `application/problem+json`.
 * @example throw new HttpProblem(409, { slug: "duplicate-instance", detail: "instance already registered" });
 */
export class HttpProblem extends HTTPException {
  readonly problem: Problem;
  readonly headers: Record<string, string>;

  constructor(status: ContentfulStatusCode, options: HttpProblemOptions = {}) {
    const title = options.title ?? STATUS_TITLES[status] ?? "Error";
    super(status, { message: options.detail ?? title, cause: options.cause });
    this.headers = options.headers ?? {};
    this.problem = {
      type: options.type ?? (options.slug ? `/problems/${options.slug}` : "about:blank"),
      title,
      status,
      ...(options.detail === undefined ? {} : { detail: options.detail }),
      ...(options.errors ? { errors: options.errors } : {}),
      ...options.extensions,
    };
  }
}

/** Turns zod issues into problem `errors`, prefixing each path with where the value came from. */
export function issuesFrom(error: z.core.$ZodError, source = "body"): ValidationIssue[] {
  return error.issues.map((issue) => ({
    pointer: `/${[source, ...issue.path.map(String)].join("/")}`,
    message: issue.message,
    code: issue.code,
  }));
}

/**
 * A 400 problem for input that failed a zod schema.
 * @example throw validationProblem(result.error, "query");
 */
export function validationProblem(error: z.core.$ZodError, source = "body"): HttpProblem {
  return new HttpProblem(400, {
    slug: "validation-error",
    title: "Request validation failed",
    detail: `The ${source} does not match the expected schema.`,
    errors: issuesFrom(error, source),
  });
}

/** Renders a problem document with the correlation ID and the problem+json content type. */
export function problemResponse(c: Context, problem: Problem, headers: Record<string, string> = {}): Response {
  const correlationId = c.get("correlationId" as never) as string | undefined;
  const body: ProblemDetails = { ...problem, ...(correlationId ? { correlationId } : {}) };
  const res = c.json(body, problem.status as ContentfulStatusCode, headers);
  res.headers.set("Content-Type", "application/problem+json");
  return res;
}

/**
 * Converts anything thrown into a problem document. Hono's own HTTPExceptions (e.g. "Malformed JSON")
 * keep their status and message; zod errors become 400s; anything else becomes a 500 that reveals nothing.
 */
export function toProblem(err: unknown): { problem: Problem; headers: Record<string, string>; internal: boolean } {
  if (err instanceof HttpProblem) return { problem: err.problem, headers: err.headers, internal: false };
  if (err instanceof ZodError) {
    const p = validationProblem(err);
    return { problem: p.problem, headers: {}, internal: false };
  }
  if (err instanceof HTTPException) {
    const status = err.status;
    const title = STATUS_TITLES[status] ?? "Error";
    const headers: Record<string, string> = {};
    err.res?.headers.forEach((v, k) => {
      if (k.toLowerCase() !== "content-type" && k.toLowerCase() !== "content-length") headers[k] = v;
    });
    return { problem: { type: "about:blank", title, status, detail: err.message || title }, headers, internal: status >= 500 };
  }
  return {
    problem: { type: "about:blank", title: "Internal Server Error", status: 500, detail: "An unexpected error occurred." },
    headers: {},
    internal: true,
  };
}
