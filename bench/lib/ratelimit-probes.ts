/**
 * Node-timed requests for the rate-limit bench: one request at a time, round-robin over the probes, so that the
 * latencies compared with each other are taken under the same conditions.
 */
import type { SequentialHttpClient } from "./latency.ts";

/** Untimed rounds per run, after fresh keys: the first decision of a key creates its Durable Object. */
export const WARMUP_ROUNDS = 50;
/** Timed rounds per run, per second of `BENCH_DURATION` (2,000 at the default 10 s). */
export const ROUNDS_PER_SECOND = 200;

/** Milliseconds as the rate-limit bench logs them. */
export const fmt = (ms: number) => ms.toFixed(3);
/** An answer body, shortened for an error message. */
export const show = (body: unknown) => JSON.stringify(body)?.slice(0, 300) ?? String(body);

/** A URL to time, and the check its every answer must pass. */
export interface Probe {
  id: string;
  url: string;
  accept: (status: number, body: unknown) => boolean;
  expected: string;
}

/**
 * GETs every probe once per round, `rounds` times, one request at a time, starting one probe later each round so
 * drift and pauses spread evenly; returns each probe's latencies (ms). Throws on the first unexpected answer.
 */
export async function timeRoundRobin(
  client: SequentialHttpClient,
  probes: readonly Probe[],
  rounds: number,
  signal: AbortSignal,
): Promise<Map<string, number[]>> {
  const samples = new Map<string, number[]>(probes.map((p) => [p.id, []]));
  for (let i = 0; i < rounds; i++) {
    signal.throwIfAborted();
    for (let k = 0; k < probes.length; k++) {
      const p = probes[(i + k) % probes.length] as Probe;
      const r = await client.get(p.url, signal);
      if (!p.accept(r.status, r.body))
        throw new Error(`${p.id}: GET ${p.url} answered ${r.status} ${show(r.body)}; expected ${p.expected}`);
      samples.get(p.id)?.push(r.ms);
    }
  }
  return samples;
}
