import { describe, expect, it } from "vitest";
import {
  batchMessage,
  matchesFilter,
  parseFilter,
  resumeAfter,
  SendBudget,
  SendPool,
  shedding,
  sseClose,
  sseFrame,
  wsFrame,
} from "./frames.ts";
import { issueTicket, TICKET_TTL_SECONDS, verifyTicket } from "./tickets.ts";

describe("live filters", () => {
  it("parses comma-separated types and prefixes, and matches type and subject", () => {
    const f = parseFilter(" ai.response.*, ai.error ", "brand-1");
    expect(f).toEqual({ types: ["ai.response.*", "ai.error"], subject: "brand-1" });
    expect(matchesFilter(f, "ai.response.raw", "brand-1")).toBe(true);
    expect(matchesFilter(f, "ai.error", "brand-1")).toBe(true);
    expect(matchesFilter(f, "ai.errors", "brand-1")).toBe(false);
    expect(matchesFilter(f, "ai.response.raw", "brand-2")).toBe(false);
    expect(matchesFilter({}, undefined, undefined)).toBe(true);
    expect(parseFilter(undefined, undefined)).toEqual({});
  });

  it("refuses too many types and a star anywhere but the end", () => {
    expect(() => parseFilter(Array.from({ length: 21 }, (_, i) => `t${i}`).join(","), undefined)).toThrow(/At most 20/);
    expect(() => parseFilter("a*b", undefined)).toThrow(/not a type/);
  });
});

describe("resuming", () => {
  it("prefers the Last-Event-ID header, falls back to the query, and refuses a malformed id", () => {
    expect(resumeAfter("1-2", "3-4")).toBe("1-2");
    expect(resumeAfter(undefined, "3-4")).toBe("3-4");
    expect(resumeAfter("", undefined)).toBeUndefined();
    expect(() => resumeAfter("yesterday", undefined)).toThrow(/Last-Event-ID/);
  });
});

describe("frames", () => {
  it("frames an event for SSE with its stream id, and for a WebSocket as {id, event}", () => {
    expect(sseFrame("1-0", '{"type":"a"}')).toBe('id: 1-0\ndata: {"type":"a"}\n\n');
    expect(JSON.parse(wsFrame("1-0", '{"type":"a"}'))).toEqual({ id: "1-0", event: { type: "a" } });
    expect(sseClose("slow-consumer")).toBe('event: close\ndata: {"code":4008,"reason":"slow-consumer"}\n\n');
  });

  it("batches WebSocket frames into one JSON array message, joined once per list", () => {
    const frames = [wsFrame("1-0", '{"type":"a"}'), wsFrame("1-1", '{"type":"b"}')];
    const message = batchMessage(frames);
    expect(JSON.parse(message)).toEqual([
      { id: "1-0", event: { type: "a" } },
      { id: "1-1", event: { type: "b" } },
    ]);
    expect(batchMessage(frames)).toBe(message);
  });

  it("counts outstanding bytes against a budget", () => {
    const b = new SendBudget(10);
    expect(b.spend(6)).toBe(true);
    expect(b.spend(4)).toBe(true);
    expect(b.spend(1)).toBe(false);
    b.settle(5);
    expect(b.outstanding).toBe(6);
    b.reset();
    expect(b.outstanding).toBe(0);
  });

  it("counts every listener's outstanding bytes in the object's pool, and never releases bytes twice", () => {
    const pool = new SendPool(10);
    const a = new SendBudget(8, pool);
    const b = new SendBudget(8, pool);
    expect(a.spend(6)).toBe(true);
    expect(b.spend(5)).toBe(true);
    // Each is under its own limit; together they are over the object's.
    expect(pool.over).toBe(true);
    a.reset(); // a dropped: its bytes are no longer held
    expect(pool.outstanding).toBe(5);
    expect(pool.over).toBe(false);
    a.settle(6); // its write settling afterwards releases nothing more
    expect(pool.outstanding).toBe(5);
    b.settle(5);
    expect(pool.outstanding).toBe(0);
  });

  it("sheds the listeners holding the most until the pool fits, never one under the floor", () => {
    const pool = new SendPool(100);
    const listener = (name: string, bytes: number) => {
      const budget = new SendBudget(1000, pool);
      budget.spend(bytes);
      return { name, budget };
    };
    const all = [listener("a", 30), listener("b", 90), listener("c", 60), listener("d", 5)];
    // 185 held, 100 allowed: b (90) brings it to 95.
    expect(shedding(all, pool, 10).map((l) => l.name)).toEqual(["b"]);
    // Everyone under the floor: it is the fan-out's own cost, nobody is shed.
    expect(shedding(all, pool, 100)).toEqual([]);
    all[1]?.budget.reset();
    expect(shedding(all, pool, 10)).toEqual([]);
  });
});

describe("tickets", () => {
  const secret = "test-secret";
  it("opens one stream for its subject until it expires", async () => {
    const now = 1_800_000_000_000;
    const { ticket, expiresAt } = await issueTicket(secret, "alice", "orders", now);
    expect(Date.parse(expiresAt)).toBe(now + TICKET_TTL_SECONDS * 1000);
    await expect(verifyTicket(secret, ticket, "orders", now + 1000)).resolves.toBe("alice");
    await expect(verifyTicket(secret, ticket, "payments", now)).rejects.toThrow(/another stream/);
    await expect(verifyTicket(secret, ticket, "orders", now + (TICKET_TTL_SECONDS + 1) * 1000)).rejects.toThrow(/expired/);
    await expect(verifyTicket("other-secret", ticket, "orders", now)).rejects.toThrow(/not one this gateway issued/);
    await expect(issueTicket(undefined, "alice", "orders", now)).rejects.toThrow(/EVENT_SIGNING_SECRET/);
    await expect(verifyTicket("", ticket, "orders", now)).rejects.toThrow(/EVENT_SIGNING_SECRET/);
  });
});
