import { z } from "zod";

/**
 * Configuration from a worker's `[vars]`, parsed once with zod: every value is a string (or unset), JSON
 * values are parsed and validated in place, and an error names each variable and what is wrong with it.
 */

/** A configuration that does not parse: its message names every variable at fault. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";

  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration: ${problems.join("; ")}`);
  }
}

/**
 * A var that is treated as unset when empty: deployed environments leave the local stack's endpoints empty.
 * @example z.object({ NEON_HTTP_ENDPOINT: optionalVar(z.url()) })
 */
export const optionalVar = <T extends z.ZodType>(schema: T) => z.preprocess((v) => (v === "" ? undefined : v), schema.optional());

/**
 * A var holding JSON that `schema` validates; a value that is not JSON is an issue of this var, not a crash.
 * @example z.object({ UPSTREAM_TIMEOUTS: jsonVar(z.record(z.string(), z.number())) })
 */
export const jsonVar = <T extends z.ZodType>(schema: T) =>
  z.string().transform((text, ctx): z.output<T> => {
    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (err) {
      ctx.addIssue({ code: "custom", message: `not valid JSON (${(err as Error).message})` });
      return z.NEVER;
    }
    const parsed = schema.safeParse(raw);
    if (parsed.success) return parsed.data;
    for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, message: issue.message, path: issue.path });
    return z.NEVER;
  });

/**
 * A var read by an existing parser that throws a readable error (`ROUTE_AUTH is invalid: ...`): the error
 * becomes an issue of this var. Unset stays `undefined` for the parser to default.
 * @example z.object({ STREAM_RETENTION: parsedVar(parseRetentionConfig) })
 */
export const parsedVar = <T>(parse: (text: string | undefined) => T) =>
  z
    .string()
    .optional()
    .transform((text, ctx): T => {
      try {
        return parse(text);
      } catch (err) {
        ctx.addIssue({ code: "custom", message: err instanceof Error ? err.message : String(err) });
        return z.NEVER;
      }
    });

/**
 * A var holding an integer, as wrangler vars are strings.
 * @example z.object({ METRICS_SHARDS: intVar(1, 64) })
 */
export const intVar = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

/** Each problem of a failed parse as `NAME: where: what`. */
export function configProblems(error: z.ZodError): string[] {
  return error.issues.map((issue) => {
    const [name = "(vars)", ...rest] = issue.path.map(String);
    // A parser's own message names its variable already.
    if (rest.length === 0 && issue.message.startsWith(name)) return issue.message;
    const where = rest.length > 0 ? ` at ${rest.join(".")}` : "";
    return `${name}${where}: ${issue.message}`;
  });
}

/**
 * Parses `vars` with `schema`, or throws a {@link ConfigError} naming each variable at fault.
 * @example const vars = parseVars(GatewayVars, env);
 */
export function parseVars<S extends z.ZodType>(schema: S, vars: object): z.output<S> {
  const parsed = schema.safeParse(vars);
  if (!parsed.success) throw new ConfigError(configProblems(parsed.error));
  return parsed.data;
}

/**
 * A configuration reader memoised per env object: a worker's env is parsed once per isolate, not per request.
 * A failed parse is not cached, so it is reported (and logged) on every request it breaks.
 * @example export const configFrom = configReader(GatewayVars, (vars) => ({ routeAuth: vars.ROUTE_AUTH }));
 */
export function configReader<S extends z.ZodType, C>(schema: S, build: (vars: z.output<S>) => C): (env: object) => C {
  const cache = new WeakMap<object, C>();
  return (env) => {
    let config = cache.get(env);
    if (config === undefined) {
      config = build(parseVars(schema, env));
      cache.set(env, config);
    }
    return config;
  };
}
