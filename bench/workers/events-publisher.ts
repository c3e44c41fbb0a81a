/**
 * Publishing straight through the event-bus package inside workerd (no gateway, no HTTP API), for
 * bench/events.bench.ts: `GET /publish?stream=&batch=&concurrency=&ms=` runs `concurrency` loops that publish
 * batches of `batch` events with `publishEvents` through the local Upstash endpoint for `ms` milliseconds, and
 * answers how many events were accepted and the per-call latencies (on workerd's whole-millisecond clock).
 */
import { publishEvents, toEnvelope } from "@foundation/event-bus";
import { Redis } from "@upstash/redis/cloudflare";
import type { PublishAnswer } from "../lib/event-workers.ts";

interface PublisherEnv {
  UPSTASH_REDIS_REST_URL: string;
  UPSTASH_REDIS_REST_TOKEN: string;
}

const int = (url: URL, name: string, fallback: number) => {
  const v = Number(url.searchParams.get(name) ?? fallback);
  return Number.isInteger(v) && v > 0 ? v : fallback;
};

export default {
  async fetch(request: Request, env: PublisherEnv): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname !== "/publish") return Response.json({ error: "route: /publish" }, { status: 404 });
    const stream = url.searchParams.get("stream") ?? "bench.direct";
    const batch = int(url, "batch", 1);
    const concurrency = int(url, "concurrency", 8);
    const ms = int(url, "ms", 1000);
    const redis = new Redis({ url: env.UPSTASH_REDIS_REST_URL, token: env.UPSTASH_REDIS_REST_TOKEN, automaticDeserialization: false });
    const ctx = { source: "/bench/direct", now: Date.now, newId: () => crypto.randomUUID() };
    const retention = { maxLen: 100_000, archive: false };
    const latencies: number[] = [];
    let events = 0;
    const started = Date.now();
    const loop = async () => {
      while (Date.now() - started < ms) {
        const batchEvents = Array.from({ length: batch }, (_, i) =>
          toEnvelope({ type: "bench.event", data: { i, v: "0123456789abcdef" } }, ctx),
        );
        const t0 = Date.now();
        await publishEvents(redis, stream, batchEvents, { retention });
        latencies.push(Date.now() - t0);
        events += batch;
      }
    };
    try {
      await Promise.all(Array.from({ length: concurrency }, loop));
    } catch (err) {
      return Response.json({ error: (err as Error).message }, { status: 500 });
    }
    return Response.json({ events, calls: latencies.length, elapsedMs: Date.now() - started, latencies } satisfies PublishAnswer);
  },
};
