import { HttpProblem, redisFrom } from "@foundation/core";
import type { BusContext, EventBusEnv } from "../env.ts";
import { partitionCount, partitionOfSubject, partitionStream } from "../partitions.ts";
import { replayStream } from "../replay.ts";
import type { LiveFilter } from "./frames.ts";
import type { LiveConnect, LiveStream } from "./live-stream.ts";
import { issueTicket, type LiveTicket } from "./tickets.ts";

/** The bindings live subscriptions need: the bus, and one `LiveStream` object per Redis stream. */
export interface LiveEnv extends EventBusEnv {
  LIVE_STREAM: DurableObjectNamespace<LiveStream>;
}

/** A bus context whose worker runs the live objects. */
export type LiveContext = BusContext & { env: LiveEnv };

/** What a listener asks for. */
export interface LiveRequest {
  mode: "sse" | "ws";
  /** Who listens: the token's or the ticket's subject (connections are capped per subject). */
  subject: string;
  filter: LiveFilter;
  /** For a partitioned topic without a `subject` filter: the partition to follow. */
  partition?: number;
  /** Resume after this stream id. */
  after?: string;
  /** WebSocket only: one array message per read instead of one message per event. */
  batch?: boolean;
}

/** A 404 unless the topic has a stream in Redis (any of its partitions). */
async function requireStream(bus: BusContext, topic: string, count: number): Promise<void> {
  const keys = Array.from({ length: count }, (_, i) => partitionStream(topic, i, count));
  const existing = await redisFrom(bus.env).exists(...keys);
  if (existing === 0) throw new HttpProblem(404, { slug: "unknown-stream", detail: `There is no stream "${topic}".` });
}

/**
 * Issues a ticket for live connections to `topic` (which must exist) for `subject`.
 * @example const { ticket } = await liveTicket(bus, "orders", c.var.auth.subject);
 */
export async function liveTicket(bus: BusContext, topic: string, subject: string): Promise<LiveTicket> {
  await requireStream(bus, topic, partitionCount(topic, bus.settings.partitions));
  return issueTicket(bus.env.EVENT_SIGNING_SECRET, subject, topic);
}

/**
 * Opens a live connection to `topic`: an SSE response, or the `101` of a WebSocket. The listener follows one Redis
 * stream: the topic's own, or for a partitioned topic the partition of its `subject` filter or the one it names
 * (as a replay does). 404 for a topic with no stream; 429 when the subject or the stream has as many connections as
 * it may.
 * @example return openLive(bus, "orders", { mode: "sse", subject, filter: {}, after: lastEventId });
 */
export async function openLive(bus: LiveContext, topic: string, request: LiveRequest): Promise<Response> {
  const count = partitionCount(topic, bus.settings.partitions);
  const key = replayStream(topic, count, { subject: request.filter.subject, partition: request.partition });
  const partition =
    count === 1 ? 0 : request.filter.subject !== undefined ? partitionOfSubject(request.filter.subject, count) : (request.partition ?? 0);
  await requireStream(bus, topic, count);
  const connect: LiveConnect = {
    topic,
    partition,
    key,
    subject: request.subject,
    filter: request.filter,
    mode: request.mode,
    ...(request.after ? { after: request.after } : {}),
    ...(request.batch && request.mode === "ws" ? { batch: true } : {}),
  };
  const headers = new Headers({ "x-live": JSON.stringify(connect) });
  if (request.mode === "ws") headers.set("Upgrade", "websocket");
  const stub = bus.env.LIVE_STREAM.get(bus.env.LIVE_STREAM.idFromName(key));
  const res = await stub.fetch("https://live/connect", { headers });
  if (res.status === 429) {
    const { limit, per } = await res.json<{ limit: number; per: string }>();
    throw new HttpProblem(429, {
      slug: "too-many-connections",
      detail:
        per === "subject"
          ? `You have ${limit} live connections to this stream open already; close one first.`
          : `This stream serves ${limit} live connections already.`,
      headers: { "Retry-After": "5" },
    });
  }
  return res;
}
