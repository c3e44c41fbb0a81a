import { abortAllDurableObjects, env, SELF } from "cloudflare:test";
import { issueTicket, LIVE_CONNECTIONS_PER_SUBJECT } from "@foundation/event-bus";
import { describe, expect, it } from "vitest";
import { token } from "./auth.ts";

const base = "http://gw.test/api/foundation/events";
const newStream = () => `test.live.${crypto.randomUUID().slice(0, 8)}`;

async function publish(stream: string, events: Array<Record<string, unknown>>): Promise<string[]> {
  const res = await SELF.fetch(`${base}/${stream}/batch`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${await token("publish", "producer")}` },
    body: JSON.stringify(events),
  });
  expect(res.status).toBe(202);
  return (await res.json<{ streamIds: string[] }>()).streamIds;
}

async function ticket(stream: string, subject = "viewer"): Promise<Response> {
  return SELF.fetch(`${base}/${stream}/live/tickets`, {
    method: "POST",
    headers: { authorization: `Bearer ${await token("read", subject)}` },
  });
}

interface SseFrame {
  id?: string;
  event?: string;
  data: string;
}

/** Reads SSE frames from a response body until `done(frames)` or the deadline. */
async function readFrames(res: Response, done: (frames: SseFrame[]) => boolean, timeoutMs = 3000): Promise<SseFrame[]> {
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const frames: SseFrame[] = [];
  let buffer = "";
  const deadline = Date.now() + timeoutMs;
  try {
    while (!done(frames) && Date.now() < deadline) {
      const chunk = await Promise.race([
        reader.read(),
        new Promise<{ done: true; value: undefined }>((r) => setTimeout(() => r({ done: true, value: undefined }), deadline - Date.now())),
      ]);
      if (chunk.done) break;
      buffer += chunk.value;
      let end: number;
      while ((end = buffer.indexOf("\n\n")) !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const frame: SseFrame = { data: "" };
        for (const line of block.split("\n")) {
          if (line.startsWith("id: ")) frame.id = line.slice(4);
          else if (line.startsWith("event: ")) frame.event = line.slice(7);
          else if (line.startsWith("data: ")) frame.data += line.slice(6);
        }
        if (frame.id !== undefined || frame.event !== undefined) frames.push(frame);
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  return frames;
}

const events = (frames: SseFrame[]) => frames.filter((f) => f.id !== undefined);

async function sse(stream: string, query: string, headers: Record<string, string> = {}): Promise<Response> {
  return SELF.fetch(`${base}/${stream}/live${query}`, { headers: { accept: "text/event-stream", ...headers } });
}

describe("live subscriptions", () => {
  it("sends events published after connecting over SSE, opened with a ticket, within a second", async () => {
    const stream = newStream();
    await publish(stream, [{ type: "before" }]);
    const t = await ticket(stream);
    expect(t.status).toBe(201);
    const { ticket: value, expiresAt } = await t.json<{ ticket: string; expiresAt: string }>();
    expect(Date.parse(expiresAt) - Date.now()).toBeLessThanOrEqual(61_000);
    const res = await sse(stream, `?ticket=${value}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/event-stream/);
    const started = Date.now();
    const ids = await publish(stream, [
      { type: "a", data: { n: 1 } },
      { type: "b", data: { n: 2 } },
    ]);
    const frames = events(await readFrames(res, (f) => events(f).length >= 2));
    expect(Date.now() - started).toBeLessThan(1000);
    expect(frames.map((f) => f.id)).toEqual(ids);
    expect(frames.map((f) => (JSON.parse(f.data) as { type: string }).type)).toEqual(["a", "b"]);
  });

  it("resumes after Last-Event-ID with every missed event once, then goes on live", async () => {
    const stream = newStream();
    const first = await publish(stream, [
      { type: "e", data: 1 },
      { type: "e", data: 2 },
      { type: "e", data: 3 },
    ]);
    const auth = { authorization: `Bearer ${await token("read", "viewer")}` };
    const res = await sse(stream, "", { ...auth, "last-event-id": first[0]! });
    const later = await publish(stream, [{ type: "e", data: 4 }]);
    const frames = events(await readFrames(res, (f) => events(f).length >= 3));
    expect(frames.map((f) => f.id)).toEqual([first[1], first[2], later[0]]);
  });

  it("starts a listener that connects after everyone left and the object was evicted from now, not from where the feed stopped", async () => {
    const stream = newStream();
    await publish(stream, [{ type: "before" }]);
    const auth = { authorization: `Bearer ${await token("read", "viewer")}` };
    const first = await sse(stream, "", auth);
    const seen = await publish(stream, [{ type: "seen" }]);
    expect(events(await readFrames(first, (f) => events(f).length >= 1)).map((f) => f.id)).toEqual(seen);
    // The first listener is gone (readFrames cancelled it) and the object with it, as after an eviction.
    await abortAllDurableObjects();
    await publish(stream, [{ type: "while-nobody-listened" }]);
    const second = await sse(stream, "", auth);
    const later = await publish(stream, [{ type: "later" }]);
    const frames = events(await readFrames(second, (f) => events(f).length >= 1, 1000));
    expect(frames.map((f) => f.id)).toEqual(later);
  });

  it("filters by type prefix and subject", async () => {
    const stream = newStream();
    await publish(stream, [{ type: "x" }]);
    const auth = { authorization: `Bearer ${await token("read", "viewer")}` };
    const res = await sse(stream, "?type=ai.response.*,ai.error&subject=brand-1", auth);
    await publish(stream, [
      { type: "ai.response.raw", subject: "brand-1" },
      { type: "ai.response.raw", subject: "brand-2" },
      { type: "other", subject: "brand-1" },
      { type: "ai.error", subject: "brand-1" },
    ]);
    const frames = events(await readFrames(res, (f) => events(f).length >= 2, 1500));
    expect(frames.map((f) => JSON.parse(f.data) as { type: string; subject: string })).toEqual([
      expect.objectContaining({ type: "ai.response.raw", subject: "brand-1" }),
      expect.objectContaining({ type: "ai.error", subject: "brand-1" }),
    ]);
  });

  it("sends events over a WebSocket as {id, event} messages and resumes one by lastEventId", async () => {
    const stream = newStream();
    const [firstId] = await publish(stream, [{ type: "w", data: 0 }]);
    const { ticket: value } = await (await ticket(stream)).json<{ ticket: string }>();
    const res = await SELF.fetch(`${base}/${stream}/live?ticket=${value}&lastEventId=${firstId}`, { headers: { upgrade: "websocket" } });
    expect(res.status).toBe(101);
    const ws = res.webSocket!;
    const received: Array<{ id: string; event: { data: unknown } }> = [];
    const got = new Promise<void>((resolve) => {
      ws.addEventListener("message", (m) => {
        const msg = JSON.parse(m.data as string) as { id?: string; event?: { data: unknown } };
        if (msg.id && msg.event) received.push({ id: msg.id, event: msg.event });
        if (received.length >= 2) resolve();
      });
    });
    ws.accept();
    const ids = await publish(stream, [
      { type: "w", data: 1 },
      { type: "w", data: 2 },
    ]);
    await Promise.race([got, new Promise((r) => setTimeout(r, 2000))]);
    ws.close(1000, "done");
    expect(received.map((m) => m.id)).toEqual(ids);
    expect(received.map((m) => m.event.data)).toEqual([1, 2]);
  });

  it("batches a WebSocket's events into one array message per read when asked, resuming by lastEventId", async () => {
    const stream = newStream();
    const [firstId] = await publish(stream, [{ type: "w", data: 0 }]);
    const missed = await publish(stream, [{ type: "w", data: 1 }]);
    const { ticket: value } = await (await ticket(stream)).json<{ ticket: string }>();
    const res = await SELF.fetch(`${base}/${stream}/live?ticket=${value}&lastEventId=${firstId}&batch=true`, {
      headers: { upgrade: "websocket" },
    });
    expect(res.status).toBe(101);
    const ws = res.webSocket!;
    const messages: Array<Array<{ id: string; event: { data: unknown } }>> = [];
    const got = new Promise<void>((resolve) => {
      ws.addEventListener("message", (m) => {
        const msg = JSON.parse(m.data as string) as unknown;
        if (Array.isArray(msg)) messages.push(msg as Array<{ id: string; event: { data: unknown } }>);
        if (messages.flat().length >= 4) resolve();
      });
    });
    ws.accept();
    // Let the catch-up go out first, so that the three below arrive in one read.
    await new Promise((r) => setTimeout(r, 200));
    const ids = await publish(stream, [
      { type: "w", data: 2 },
      { type: "w", data: 3 },
      { type: "w", data: 4 },
    ]);
    await Promise.race([got, new Promise((r) => setTimeout(r, 2000))]);
    ws.close(1000, "done");
    expect(messages.flat().map((m) => m.id)).toEqual([...missed, ...ids]);
    expect(messages.at(-1)?.map((m) => m.event.data)).toEqual([2, 3, 4]);
  });

  it("drops a listener that stops reading with a slow-consumer close instead of buffering without bound", async () => {
    const stream = newStream();
    await publish(stream, [{ type: "x" }]);
    const res = await sse(stream, "", { authorization: `Bearer ${await token("read", "slow")}` });
    // 5 MiB of events to a listener that reads nothing: past its 4 MiB budget.
    const big = "x".repeat(60 * 1024);
    for (let i = 0; i < 10; i++)
      await publish(
        stream,
        Array.from({ length: 9 }, () => ({ type: "big", data: big })),
      );
    await new Promise((r) => setTimeout(r, 300));
    const frames = await readFrames(res, (f) => f.some((x) => x.event === "close"), 5000);
    const close = frames.find((f) => f.event === "close");
    expect(close && JSON.parse(close.data)).toEqual({ code: 4008, reason: "slow-consumer" });
    expect(events(frames).length).toBeLessThan(90);
  });

  it("caps the connections one subject has open to a stream", async () => {
    const stream = newStream();
    await publish(stream, [{ type: "x" }]);
    const auth = { authorization: `Bearer ${await token("read", "greedy")}` };
    const open: Response[] = [];
    for (let i = 0; i < LIVE_CONNECTIONS_PER_SUBJECT; i++) {
      const res = await sse(stream, "", auth);
      expect(res.status).toBe(200);
      open.push(res);
    }
    const refused = await sse(stream, "", auth);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("content-type")).toBe("application/problem+json");
    expect(await refused.json()).toMatchObject({ type: "/problems/too-many-connections" });
    const other = await sse(stream, "", { authorization: `Bearer ${await token("read", "someone-else")}` });
    expect(other.status).toBe(200);
    await Promise.all([...open, other].map((r) => r.body!.cancel()));
  });

  it("answers bad input with problems: unknown stream, bad or expired ticket, malformed Last-Event-ID, no event-stream", async () => {
    const stream = newStream();
    await publish(stream, [{ type: "x" }]);
    const auth = { authorization: `Bearer ${await token("read", "viewer")}` };
    const problem = async (res: Response, status: number, type: string) => {
      expect(res.status).toBe(status);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
      expect(await res.json()).toMatchObject({ type: `/problems/${type}` });
    };
    await problem(await sse(newStream(), "", auth), 404, "unknown-stream");
    await problem(await ticket(newStream()), 404, "unknown-stream");
    await problem(await sse(stream, ""), 401, "unauthorized");
    await problem(await sse(stream, "?ticket=not-a-ticket"), 401, "invalid-ticket");
    const expired = await issueTicket(env.EVENT_SIGNING_SECRET, "viewer", stream, Date.now() - 120_000);
    await problem(await sse(stream, `?ticket=${expired.ticket}`), 401, "invalid-ticket");
    const other = await (await ticket(stream)).json<{ ticket: string }>();
    const elsewhere = newStream();
    await publish(elsewhere, [{ type: "x" }]);
    await problem(await sse(elsewhere, `?ticket=${other.ticket}`), 401, "invalid-ticket");
    await problem(await sse(stream, "", { ...auth, "last-event-id": "yesterday" }), 400, "invalid-last-event-id");
    await problem(await SELF.fetch(`${base}/${stream}/live`, { headers: auth }), 406, "not-acceptable");
    await problem(await sse(stream, `?type=${"a,".repeat(30)}`, auth), 400, "invalid-filter");
  });
});
