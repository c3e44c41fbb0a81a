import { DurableObject } from "cloudflare:workers";
import { configReader, createLogger, errorFields, flushMetricsIfDue, isBefore, redisFrom, workerMetrics } from "@foundation/core";
import { StreamVars, streamSettingsOf } from "../config.ts";
import type { EventBusEnv } from "../env.ts";
import { eventMetrics } from "../metrics.ts";
import { replayTopic } from "../replay.ts";
import { parseItems, rawLastId, refused } from "./feed.ts";
import {
  CLOSE_CODES,
  matchesFilter,
  SendBudget,
  SendPool,
  batchMessage,
  shedding,
  sseClose,
  sseFrame,
  sseHeartbeat,
  wsFrame,
  type CloseReason,
  type LiveFilter,
} from "./frames.ts";

/** What the gateway asks of a stream's live object when a listener connects (the `x-live` header, as JSON). */
export interface LiveConnect {
  /** The topic as clients name it, and the partition whose Redis stream this object follows. */
  topic: string;
  partition: number;
  /** The Redis stream: the topic's own, or one of its partitions. */
  key: string;
  subject: string;
  filter: LiveFilter;
  /** Resume after this stream id; absent: from now. */
  after?: string;
  mode: "sse" | "ws";
  /** WebSocket only: one message per read, a JSON array of `{id, event}`, instead of one message per event. */
  batch?: boolean;
}

/** How often the object reads Redis while anyone listens and nothing new came. */
export const LIVE_POLL_MS = 50;
/** Most entries one read takes. */
const READ_COUNT = 500;
/** Heartbeat interval: an SSE comment, or a `{"heartbeat": ms}` WebSocket message. */
export const LIVE_HEARTBEAT_MS = 15_000;
/** Bytes a listener may have outstanding before it is dropped as a slow consumer (see `SendBudget`). */
export const LIVE_SEND_BUDGET_BYTES = 4 * 1024 * 1024;
/**
 * Bytes all SSE listeners of one object may have outstanding together, however many listeners each stay under
 * {@link LIVE_SEND_BUDGET_BYTES}. Past it the listeners holding the most, and more than {@link LIVE_SHED_FLOOR_BYTES},
 * are dropped.
 */
export const LIVE_SEND_POOL_BYTES = 32 * 1024 * 1024;
/** What a listener may hold unread and never be shed for the pool: a few fan-outs of a busy stream. */
export const LIVE_SHED_FLOOR_BYTES = 512 * 1024;
/** Open connections one subject (token or ticket holder) may have to one stream. */
export const LIVE_CONNECTIONS_PER_SUBJECT = 20;
/** Open connections one stream's object serves. */
export const LIVE_CONNECTIONS_PER_STREAM = 5000;

const encoder = new TextEncoder();
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A listener as the object tracks it. */
interface Listener {
  kind: "sse" | "ws";
  subject: string;
  filter: LiveFilter;
  /** The last stream id it was sent (or skipped by its filter). */
  cursor: string;
  /** Replaying what it missed; the live feed skips it until it has caught up. */
  catchingUp: boolean;
  budget: SendBudget;
  /** WebSocket only: events go out as one array message per send. */
  batch: boolean;
  /**
   * Sends frames: for SSE one chunk of text or bytes; for a WebSocket a string is one message as it is, and each
   * frame of an array one message (or, batched, one array message for all of them).
   */
  send(frames: string | Uint8Array | readonly string[]): void;
  close(reason: CloseReason): void;
}

/** What a WebSocket keeps across hibernation. */
interface WsAttachment {
  subject: string;
  filter: LiveFilter;
  cursor: string;
  batch?: boolean;
}

/** Keeps what a WebSocket listener needs after an eviction with the socket itself. */
function attach(ws: WebSocket, listener: Listener): void {
  const { subject, filter, cursor, batch } = listener;
  ws.serializeAttachment({ subject, filter, cursor, batch } satisfies WsAttachment);
}

const streamSettings = configReader(StreamVars, streamSettingsOf);

/**
 * The live fan-out of one Redis stream (a topic, or one partition of it): while anyone listens it reads the stream
 * once every {@link LIVE_POLL_MS} and sends each new event to every listener whose filter it passes, over SSE or a
 * hibernatable WebSocket. One Redis read serves every listener. A listener resuming from a `Last-Event-ID` first
 * gets what it missed (from Redis, or the event store where Redis trimmed it) and then joins the live feed, with no
 * gap and no duplicate. Nobody listening: no reads, no alarms.
 */
export class LiveStream extends DurableObject<EventBusEnv> {
  private readonly listeners = new Set<Listener>();
  private readonly sockets = new Map<WebSocket, Listener>();
  private readonly perSubject = new Map<string, number>();
  private key: string | undefined;
  private cursor: string | undefined;
  private pumping: Promise<void> | undefined;
  private readonly log = createLogger({ component: "live-stream" });
  readonly #pool = new SendPool(LIVE_SEND_POOL_BYTES);

  constructor(ctx: DurableObjectState, env: EventBusEnv) {
    super(ctx, env);
    this.ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
    void this.ctx.blockConcurrencyWhile(async () => {
      this.key = await this.ctx.storage.get<string>("key");
      this.cursor = await this.ctx.storage.get<string>("cursor");
      // WebSockets outlive an eviction: take them back with where each one was.
      for (const ws of this.ctx.getWebSockets()) {
        const a = ws.deserializeAttachment() as WsAttachment | null;
        if (a) this.#add(this.#wsListener(ws, a.subject, a.filter, a.cursor, a.batch === true));
      }
    });
  }

  override async fetch(request: Request): Promise<Response> {
    const header = request.headers.get("x-live");
    if (!header) return new Response("x-live required", { status: 400 });
    const connect = JSON.parse(header) as LiveConnect;
    if (this.listeners.size >= LIVE_CONNECTIONS_PER_STREAM) return refused(LIVE_CONNECTIONS_PER_STREAM, "stream");
    if ((this.perSubject.get(connect.subject) ?? 0) >= LIVE_CONNECTIONS_PER_SUBJECT)
      return refused(LIVE_CONNECTIONS_PER_SUBJECT, "subject");
    if (this.key !== connect.key) {
      this.key = connect.key;
      this.cursor = undefined;
      await this.ctx.storage.put("key", connect.key);
    }
    // Nobody listening: where the feed stopped is history, and "now" is the stream's tail.
    if (this.listeners.size === 0) this.cursor = undefined;
    const now = await this.#tail();
    const after = connect.after ?? now;
    let listener: Listener;
    let response: Response;
    if (connect.mode === "ws") {
      const pair = new WebSocketPair();
      const [client, server] = [pair[0], pair[1]];
      this.ctx.acceptWebSocket(server);
      listener = this.#wsListener(server, connect.subject, connect.filter, after, connect.batch === true);
      attach(server, listener);
      response = new Response(null, { status: 101, webSocket: client });
    } else {
      const { readable, listener: l } = this.#sseListener(connect.subject, connect.filter, after);
      listener = l;
      response = new Response(readable, {
        headers: {
          "Content-Type": "text/event-stream; charset=utf-8",
          "Cache-Control": "no-cache, no-transform",
          "X-Accel-Buffering": "no",
        },
      });
    }
    this.#add(listener);
    if (isBefore(after, now)) {
      listener.catchingUp = true;
      this.ctx.waitUntil(this.#catchUp(listener, connect));
    }
    this.#startPump();
    return response;
  }

  /** The stream's position: where the live feed is, read from Redis the first time. */
  async #tail(): Promise<string> {
    if (this.cursor) return this.cursor;
    const key = this.key ?? "";
    const last = rawLastId(await redisFrom(this.env).xrevrange(key, "+", "-", 1));
    this.cursor ??= last ?? "0-0";
    return this.cursor;
  }

  #add(listener: Listener): void {
    this.listeners.add(listener);
    this.perSubject.set(listener.subject, (this.perSubject.get(listener.subject) ?? 0) + 1);
    eventMetrics.liveConnections.set({ stream: this.key ?? "" }, this.listeners.size);
  }

  #remove(listener: Listener): void {
    if (!this.listeners.delete(listener)) return;
    // Whatever it had not taken is no longer the object's to hold.
    if (listener.kind === "sse") listener.budget.reset();
    const n = (this.perSubject.get(listener.subject) ?? 1) - 1;
    if (n > 0) this.perSubject.set(listener.subject, n);
    else this.perSubject.delete(listener.subject);
    eventMetrics.liveConnections.set({ stream: this.key ?? "" }, this.listeners.size);
  }

  /** Drops the SSE listeners holding the most unread bytes (each past the floor) until the object's pool fits. */
  #shed(): void {
    const sse = [...this.listeners].filter((l) => l.kind === "sse");
    for (const l of shedding(sse, this.#pool, LIVE_SHED_FLOOR_BYTES)) this.#drop(l, "slow-consumer");
  }

  #drop(listener: Listener, reason: CloseReason): void {
    eventMetrics.liveDropped.inc({ stream: this.key ?? "", reason });
    listener.close(reason);
    this.#remove(listener);
  }

  #sseListener(subject: string, filter: LiveFilter, cursor: string): { readable: ReadableStream; listener: Listener } {
    // workerd's native byte pipe: a write hands its bytes to the response without a JavaScript queue in between.
    const { readable, writable } = new IdentityTransformStream();
    const writer = writable.getWriter();
    const listener: Listener = {
      kind: "sse",
      subject,
      filter,
      cursor,
      catchingUp: false,
      batch: false,
      budget: new SendBudget(LIVE_SEND_BUDGET_BYTES, this.#pool),
      send: (frames) => {
        const bytes =
          typeof frames === "string" ? encoder.encode(frames) : frames instanceof Uint8Array ? frames : encoder.encode(frames.join(""));
        if (!listener.budget.spend(bytes.length)) return this.#drop(listener, "slow-consumer");
        writer.write(bytes).then(
          () => listener.budget.settle(bytes.length),
          () => this.#remove(listener),
        );
      },
      close: (reason) => {
        void writer.write(encoder.encode(sseClose(reason))).catch(() => undefined);
        void writer.close().catch(() => undefined);
      },
    };
    // `retry:` tells EventSource how soon to reconnect; the comment makes the response start at once.
    listener.send(`retry: 1000\n: connected\n\n`);
    writer.closed.then(
      () => this.#remove(listener),
      () => this.#remove(listener),
    );
    return { readable, listener };
  }

  #wsListener(ws: WebSocket, subject: string, filter: LiveFilter, cursor: string, batch: boolean): Listener {
    let provenAt = Date.now();
    const listener: Listener = {
      kind: "ws",
      subject,
      filter,
      cursor,
      catchingUp: false,
      batch,
      budget: new SendBudget(LIVE_SEND_BUDGET_BYTES),
      send: (frames) => {
        const messages =
          typeof frames === "string"
            ? [frames]
            : frames instanceof Uint8Array
              ? [new TextDecoder().decode(frames)]
              : listener.batch
                ? [batchMessage(frames)]
                : frames;
        const size = messages.reduce((n, m) => n + m.length, 0);
        if (!listener.budget.spend(size)) {
          // A `ping` the runtime answered for us counts as the client keeping up.
          const pinged = this.ctx.getWebSocketAutoResponseTimestamp(ws)?.getTime() ?? 0;
          if (pinged <= provenAt) return this.#drop(listener, "slow-consumer");
          provenAt = pinged;
          listener.budget.reset();
        }
        try {
          for (const m of messages) ws.send(m);
        } catch {
          this.#remove(listener);
        }
      },
      close: (reason) => {
        try {
          ws.close(CLOSE_CODES[reason], reason);
        } catch {
          /* already closed */
        }
      },
    };
    this.sockets.set(ws, listener);
    return listener;
  }

  override webSocketMessage(ws: WebSocket): void {
    // Anything the client sends proves it is reading; the messages themselves mean nothing.
    this.sockets.get(ws)?.budget.reset();
  }

  override webSocketClose(ws: WebSocket, code: number, reason: string): void {
    this.#closeSocket(ws);
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code, reason);
    } catch {
      /* already closed */
    }
  }

  override webSocketError(ws: WebSocket): void {
    this.#closeSocket(ws);
  }

  #closeSocket(ws: WebSocket): void {
    const listener = this.sockets.get(ws);
    this.sockets.delete(ws);
    if (listener) this.#remove(listener);
  }

  /** Sends a resuming listener what it missed, page by page, then lets the live feed take it over. */
  async #catchUp(listener: Listener, connect: LiveConnect): Promise<void> {
    const bus = {
      env: this.env,
      settings: streamSettings(this.env),
      log: this.log,
      defer: (p: Promise<unknown>) => this.ctx.waitUntil(p.catch(() => undefined)),
    };
    try {
      for (;;) {
        if (!this.listeners.has(listener)) return;
        const page = await replayTopic(bus, connect.topic, { after: listener.cursor, limit: READ_COUNT, partition: connect.partition });
        const frames: string[] = [];
        for (const e of page.events) {
          if ("event" in e && matchesFilter(listener.filter, e.event.type, e.event.subject)) {
            const json = JSON.stringify(e.event);
            frames.push(listener.kind === "ws" ? wsFrame(e.streamId, json) : sseFrame(e.streamId, json));
          }
          listener.cursor = e.streamId;
        }
        if (frames.length > 0) listener.send(listener.kind === "ws" ? frames : frames.join(""));
        if (page.next !== null && page.events.length > 0) continue;
        // Caught up with the live feed (or past it): from here on the feed sends it only what comes after its cursor.
        if (!this.cursor || !isBefore(listener.cursor, this.cursor)) {
          listener.catchingUp = false;
          return;
        }
        if (page.events.length === 0) {
          listener.cursor = this.cursor;
          listener.catchingUp = false;
          return;
        }
      }
    } catch (err) {
      this.log.error("live catch-up failed", { stream: connect.key, ...errorFields(err) });
      this.#drop(listener, "server-restart");
    }
  }

  #startPump(): void {
    this.pumping ??= this.#pump().finally(() => {
      this.pumping = undefined;
    });
  }

  /** Reads the stream while anyone listens and fans each new entry out. */
  async #pump(): Promise<void> {
    const redis = redisFrom(this.env);
    let heartbeatAt = Date.now() + LIVE_HEARTBEAT_MS;
    await this.ctx.storage.setAlarm(Date.now() + LIVE_HEARTBEAT_MS);
    while (this.listeners.size > 0 && this.key) {
      let reply: unknown;
      try {
        reply = await redis.xrange(this.key, `(${await this.#tail()}`, "+", READ_COUNT);
      } catch (err) {
        this.log.warn("live read failed", { stream: this.key, ...errorFields(err) });
        await sleep(500);
        continue;
      }
      const count = Array.isArray(reply) ? reply.length : 0;
      if (count > 0) this.#broadcast(reply);
      const now = Date.now();
      if (now >= heartbeatAt) {
        heartbeatAt = now + LIVE_HEARTBEAT_MS;
        this.#heartbeat(now);
      }
      // A full pause after each fan-out, however long it took: under load the reads then grow into larger batches,
      // fewer writes per listener. (Reading at a fixed cadence instead doubled p99 at 1,000 listeners.)
      if (count < READ_COUNT) await sleep(LIVE_POLL_MS);
    }
  }

  #broadcast(reply: unknown): void {
    const last = rawLastId(reply, true);
    if (!last) return;
    this.cursor = last;
    const items = parseItems(reply);
    // What a listener without a filter that is not behind gets: framed and encoded once for all of them.
    const firstId = items[0]?.streamId;
    let allSse: Uint8Array | undefined;
    let allWs: string[] | undefined;
    let sent = 0;
    for (const listener of this.listeners) {
      if (listener.catchingUp) continue;
      if (firstId && !listener.filter.types && listener.filter.subject === undefined && isBefore(listener.cursor, firstId)) {
        if (listener.kind === "sse") listener.send((allSse ??= encoder.encode(items.map((i) => i.sse).join(""))));
        else listener.send((allWs ??= items.map((i) => i.ws)));
        sent += items.length;
      } else {
        const mine = items.filter((i) => isBefore(listener.cursor, i.streamId) && matchesFilter(listener.filter, i.type, i.subject));
        if (mine.length > 0) {
          listener.send(listener.kind === "sse" ? mine.map((i) => i.sse).join("") : mine.map((i) => i.ws));
          sent += mine.length;
        }
      }
      if (isBefore(listener.cursor, last)) listener.cursor = last;
    }
    if (sent > 0) eventMetrics.liveMessages.inc({ stream: this.key ?? "" }, sent);
    // Once per read, not per write: while over, a scan per write would cost the object the fan-out's square.
    if (this.#pool.over) this.#shed();
  }

  #heartbeat(now: number): void {
    for (const listener of this.listeners) {
      listener.send(listener.kind === "ws" ? `{"heartbeat":${now}}` : sseHeartbeat(now));
    }
    // The feed's position is kept with the WebSockets' own, for the sockets an eviction hands back.
    if (this.cursor) this.ctx.storage.put("cursor", this.cursor).catch(() => undefined);
    for (const [ws, listener] of this.sockets) attach(ws, listener);
  }

  /** Every heartbeat interval while anyone listens: restarts the feed after an eviction and sends the metrics. */
  override async alarm(): Promise<void> {
    if (this.listeners.size === 0) return;
    this.#startPump();
    await this.ctx.storage.setAlarm(Date.now() + LIVE_HEARTBEAT_MS);
    await flushMetricsIfDue(workerMetrics, this.env).catch(() => undefined);
  }
}
