/**
 * The pure half of the local Upstash endpoint (`upstash-endpoint.ts`): turning REST requests of
 * @upstash/redis 1.39 into Redis commands, refusing the commands Upstash refuses, and encoding Redis replies
 * as Upstash JSON.
 */
import { RespError } from "./resp.ts";

/** One Redis argument as sent on the wire. */
export type RedisArg = string;
/** One command's reply: `{result}`, or `{error}` for a Redis error. */
export type UpstashReply = { result: unknown } | { error: string };

/** A request-level failure with its HTTP status and `{error}` message. */
export class UpstashHttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Converts one JSON command array into Redis arguments: strings as they are, numbers and booleans
 * via String() (true → "true"), objects as JSON. The command name is upper-cased.
 */
export function toRedisArgs(command: unknown): RedisArg[] {
  if (!Array.isArray(command) || command.length === 0) {
    throw new UpstashHttpError(400, "ERR command must be a non-empty JSON array");
  }
  const out = new Array<string>(command.length);
  for (let i = 0; i < command.length; i++) {
    const a: unknown = command[i];
    switch (typeof a) {
      case "string":
        out[i] = a;
        break;
      case "number":
      case "boolean":
      case "bigint":
        out[i] = String(a);
        break;
      case "object":
        if (a === null) throw new UpstashHttpError(400, `ERR null is not a valid argument (position ${i})`);
        out[i] = JSON.stringify(a);
        break;
      default:
        throw new UpstashHttpError(400, `ERR invalid argument at position ${i}`);
    }
  }
  if (out[0] === "") throw new UpstashHttpError(400, "ERR empty command name");
  out[0] = out[0]!.toUpperCase();
  return out;
}

/** Commands the REST protocol cannot serve (blocking, connection state, pub/sub) → error text, else null. */
export function rejectCommand(args: readonly string[]): string | null {
  const name = args[0]!;
  const notAvailable = () =>
    `ERR Command is not available: '${name.toLowerCase()}'. See https://upstash.com/docs/redis/overall/rediscompatibility for details`;
  if (BLOCKED.has(name)) return notAvailable();
  if (name === "XREAD" || name === "XREADGROUP") {
    for (let i = 1; i < args.length; i++) {
      const a = args[i]!.toUpperCase();
      if (a === "STREAMS") break;
      if (a === "BLOCK") return `ERR blocking is not supported: '${name.toLowerCase()} ... BLOCK'; poll without BLOCK instead`;
    }
  }
  if (name === "CLIENT") {
    const sub = (args[1] ?? "").toUpperCase();
    if (!CLIENT_ALLOWED.has(sub)) return notAvailable();
  }
  return null;
}

const BLOCKED = new Set([
  "BLPOP",
  "BRPOP",
  "BRPOPLPUSH",
  "BLMOVE",
  "BLMPOP",
  "BZPOPMIN",
  "BZPOPMAX",
  "BZMPOP",
  "WAIT",
  "WAITAOF",
  "SUBSCRIBE",
  "PSUBSCRIBE",
  "SSUBSCRIBE",
  "UNSUBSCRIBE",
  "PUNSUBSCRIBE",
  "SUNSUBSCRIBE",
  "MONITOR",
  "SYNC",
  "PSYNC",
  "REPLCONF",
  "REPLICAOF",
  "SLAVEOF",
  "MULTI",
  "EXEC",
  "DISCARD",
  "WATCH",
  "UNWATCH",
  "SELECT",
  "HELLO",
  "RESET",
  "AUTH",
  "QUIT",
  "READONLY",
  "READWRITE",
  "SHUTDOWN",
  "FAILOVER",
]);
const CLIENT_ALLOWED = new Set(["ID", "INFO", "LIST", "GETNAME", "HELP", "SETINFO"]);

/**
 * Encodes a Redis reply (Buffers for strings) as Upstash JSON: Buffers/strings → UTF-8 strings or
 * base64 of their bytes, integers → numbers, nil → null, arrays recursively, nested errors → their text.
 */
export function encodeReply(value: unknown, base64: boolean): unknown {
  if (value === null || value === undefined) return null;
  if (Buffer.isBuffer(value)) return base64 ? value.toString("base64") : value.toString("utf8");
  if (typeof value === "string") return base64 ? Buffer.from(value, "utf8").toString("base64") : value;
  if (typeof value === "number") return value;
  if (Array.isArray(value)) {
    const out = new Array(value.length);
    for (let i = 0; i < value.length; i++) out[i] = encodeReply(value[i], base64);
    return out;
  }
  if (value instanceof Error) return encodeReply(value.message, base64);
  if (typeof value === "bigint") return Number(value);
  return value;
}

/** True for Redis error replies (ERR, WRONGTYPE, NOSCRIPT...), false for connection trouble. */
export function isRedisReplyError(e: unknown): e is Error {
  return e instanceof RespError || (e instanceof Error && (e.name === "ReplyError" || e.name === "RespError"));
}

/** Parses a path-style request (`/set/key/value?EX=10`) into a command array; null for "/". */
export function parsePathCommand(pathname: string, search: URLSearchParams, body: string | undefined): unknown[] | null {
  const parts = pathname.split("/").filter((p) => p !== "");
  if (parts.length === 0) return null;
  const cmd: unknown[] = parts.map((p) => decodeURIComponent(p));
  for (const [k, v] of search) {
    if (k === "_token") continue;
    cmd.push(k);
    if (v !== "") cmd.push(v);
  }
  if (body !== undefined && body !== "") cmd.push(body);
  return cmd;
}

/** Extracts the bearer token from an Authorization header or `_token` query parameter. */
export function requestToken(authorization: string | undefined, search: URLSearchParams): string | undefined {
  if (authorization) {
    const m = /^Bearer\s+(.+)$/i.exec(authorization.trim());
    return m?.[1];
  }
  return search.get("_token") ?? undefined;
}

/** Parses a `/pipeline` or `/multi-exec` body: a non-empty JSON array of command arrays. */
export function parseCommands(raw: string, route: "pipeline" | "multi-exec"): RedisArg[][] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new UpstashHttpError(400, "ERR failed to parse request body as JSON");
  }
  if (!Array.isArray(parsed) || parsed.length === 0) {
    throw new UpstashHttpError(400, `ERR ${route} body must be a non-empty JSON array of command arrays`);
  }
  return parsed.map((c) => toRedisArgs(c));
}
