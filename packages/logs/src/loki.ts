import type { LogEntry } from "./entry.ts";

/** Loki's push API body (`POST /loki/api/v1/push`, JSON): streams of labels, each with `[ns timestamp, line]` values. */
export interface LokiPush {
  streams: Array<{ stream: Record<string, string>; values: Array<[string, string]> }>;
}

/**
 * The Loki push body for `entries`: one stream per (service, level), labelled `job="foundation"`, so labels stay few
 * and low-cardinality; each value is the line's time in nanoseconds (a decimal string) and the line as JSON with its
 * message, IDs and fields, for Loki's `json` parser (`{service="gateway"} | json | correlationId="…"`). Values are in
 * time order within a stream.
 * @example lokiPayload(entries).streams[0].values[0] // ["1796119200000000000", "{\"msg\":\"request\",...}"]
 */
export function lokiPayload(entries: readonly LogEntry[]): LokiPush {
  const streams = new Map<string, { stream: Record<string, string>; values: Array<[number, string]> }>();
  for (const e of entries) {
    const key = `${e.service}\u0000${e.level}`;
    let s = streams.get(key);
    if (!s) streams.set(key, (s = { stream: { job: "foundation", service: e.service, level: e.level }, values: [] }));
    const [correlationId, ...more] = e.correlationIds;
    const line = {
      msg: e.msg,
      ...(correlationId === undefined ? {} : { correlationId }),
      ...(more.length > 0 ? { correlationIds: e.correlationIds } : {}),
      ...(e.traceId === null ? {} : { traceId: e.traceId }),
      ...e.fields,
    };
    s.values.push([e.ts, JSON.stringify(line)]);
  }
  return {
    streams: [...streams.values()].map(({ stream, values }) => ({
      stream,
      values: values.sort((a, b) => a[0] - b[0]).map(([ms, line]): [string, string] => [`${BigInt(Math.trunc(ms)) * 1_000_000n}`, line]),
    })),
  };
}

/** Where to push and how to authenticate: `LOKI_PUSH_URL` and the optional `LOKI_AUTHORIZATION` header value. */
export interface LokiTarget {
  url: string;
  authorization?: string;
}

/** Longest a push may take. */
const LOKI_TIMEOUT_MS = 5000;

/**
 * Pushes `entries` to Loki; throws when Loki does not answer 2xx (204 is its success) within 5 s.
 * @example await pushToLoki({ url: env.LOKI_PUSH_URL }, entries);
 */
export async function pushToLoki(target: LokiTarget, entries: readonly LogEntry[], fetcher: typeof fetch = fetch): Promise<void> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (target.authorization) headers.authorization = target.authorization;
  const res = await fetcher(target.url, {
    method: "POST",
    headers,
    body: JSON.stringify(lokiPayload(entries)),
    signal: AbortSignal.timeout(LOKI_TIMEOUT_MS),
  });
  await res.body?.cancel();
  if (!res.ok) throw new Error(`Loki answered ${res.status}`);
}
