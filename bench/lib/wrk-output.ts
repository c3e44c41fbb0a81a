/** Pure parser of `wrk --latency` output (wrk 4.x text report). */

/** What one wrk run measured; latencies in milliseconds. */
export interface WrkResult {
  requestsPerSec: number;
  requests: number;
  durationSec: number;
  latencyMs: { avg: number; max: number; p50?: number; p75?: number; p90?: number; p99?: number };
  /** Responses whose status was not 2xx or 3xx (wrk prints the line only when there were some). */
  non2xx3xx: number;
  socketErrors: { connect: number; read: number; write: number; timeout: number };
}

const TIME_UNITS_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const TIME = String.raw`([\d.]+)(us|ms|s|m|h)`;

/**
 * Converts a wrk time such as `950.12us`, `9.61ms` or `1.02s` to milliseconds.
 * @example wrkTimeToMs("9.61ms") // 9.61
 */
export function wrkTimeToMs(text: string): number {
  const m = new RegExp(`^${TIME}$`).exec(text.trim());
  const unit = m?.[2] === undefined ? undefined : TIME_UNITS_MS[m[2]];
  if (!m?.[1] || unit === undefined) throw new Error(`not a wrk time: ${JSON.stringify(text)}`);
  return Number(m[1]) * unit;
}

function required(re: RegExp, text: string, what: string): RegExpExecArray {
  const m = re.exec(text);
  if (!m) throw new Error(`wrk output has no ${what}:\n${text}`);
  return m;
}

/**
 * Parses wrk's report. Percentiles are present only when wrk ran with `--latency`.
 * @example parseWrkOutput(stdout).requestsPerSec
 */
export function parseWrkOutput(text: string): WrkResult {
  const rps = required(/^Requests\/sec:\s+([\d.]+)\s*$/m, text, "Requests/sec line");
  const total = required(new RegExp(String.raw`^\s*(\d+) requests in ${TIME},`, "m"), text, "request count");
  const latency = required(new RegExp(String.raw`^\s*Latency\s+${TIME}\s+\S+\s+${TIME}`, "m"), text, "latency line");
  const percentile = (p: number): number | undefined => {
    const m = new RegExp(String.raw`^\s*${p}%\s+${TIME}\s*$`, "m").exec(text);
    return m ? wrkTimeToMs(`${m[1]}${m[2]}`) : undefined;
  };
  const non2xx = /^\s*Non-2xx or 3xx responses:\s+(\d+)/m.exec(text);
  const sock = /^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/m.exec(text);
  return {
    requestsPerSec: Number(rps[1]),
    requests: Number(total[1]),
    durationSec: wrkTimeToMs(`${total[2]}${total[3]}`) / 1000,
    latencyMs: {
      avg: wrkTimeToMs(`${latency[1]}${latency[2]}`),
      max: wrkTimeToMs(`${latency[3]}${latency[4]}`),
      p50: percentile(50),
      p75: percentile(75),
      p90: percentile(90),
      p99: percentile(99),
    },
    non2xx3xx: non2xx ? Number(non2xx[1]) : 0,
    socketErrors: {
      connect: Number(sock?.[1] ?? 0),
      read: Number(sock?.[2] ?? 0),
      write: Number(sock?.[3] ?? 0),
      timeout: Number(sock?.[4] ?? 0),
    },
  };
}
