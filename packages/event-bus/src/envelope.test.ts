import { describe, expect, it } from "vitest";
import { EventInput, MAX_EVENT_BYTES, serialiseEvent, StreamName, toEnvelope } from "./envelope.ts";
import { PUBLISH_SCRIPT, PUBLISH_SCRIPT_SHA1 } from "./scripts.ts";

const ctx = { source: "/test", correlationId: "corr-1", now: () => Date.UTC(2026, 0, 2, 3, 4, 5), newId: () => "evt-1" };

describe("toEnvelope", () => {
  it("fills in a short event as a CloudEvent with the correlation ID", () => {
    const input = EventInput.parse({ type: "response.received", data: { platform: "chatgpt" }, subject: "brand-7" });
    expect(toEnvelope(input, ctx)).toEqual({
      specversion: "1.0",
      id: "evt-1",
      source: "/test",
      type: "response.received",
      time: "2026-01-02T03:04:05.000Z",
      datacontenttype: "application/json",
      subject: "brand-7",
      data: { platform: "chatgpt" },
      correlationid: "corr-1",
    });
  });

  it("keeps a full CloudEvent as sent, including its own correlation ID", () => {
    const input = EventInput.parse({ specversion: "1.0", id: "mine", source: "/svc", type: "t", correlationid: "theirs" });
    expect(toEnvelope(input, ctx)).toEqual({ specversion: "1.0", id: "mine", source: "/svc", type: "t", correlationid: "theirs" });
  });

  it.each([
    ["unknown fields", { type: "t", role: "admin" }],
    ["a missing type", { data: 1 }],
    ["a wrong specversion", { specversion: "0.3", id: "a", source: "/s", type: "t" }],
    ["a bad time", { specversion: "1.0", id: "a", source: "/s", type: "t", time: "yesterday" }],
  ])("rejects %s", (_, body) => {
    expect(EventInput.safeParse(body).success).toBe(false);
  });

  it("refuses to serialise an event over the size limit", () => {
    const big = toEnvelope({ type: "t", data: "x".repeat(MAX_EVENT_BYTES) }, ctx);
    expect(() => serialiseEvent(big)).toThrow(RangeError);
  });

  it("counts the size in UTF-8 bytes, not characters", () => {
    // 30,000 euro signs are 90,000 bytes: refused; 30,000 x's are 30,000 bytes: kept, although 30,000 characters
    // could be up to 90,000 bytes, so this one is measured rather than waved through.
    expect(() => serialiseEvent(toEnvelope({ type: "t", data: "€".repeat(30_000) }, ctx))).toThrow(/bytes; the limit/);
    expect((JSON.parse(serialiseEvent(toEnvelope({ type: "t", data: "x".repeat(30_000) }, ctx))) as { data: string }).data).toHaveLength(
      30_000,
    );
  });

  it("stamps every short event of a batch with the publish time, also when the clock moves between them", () => {
    let now = Date.UTC(2026, 0, 2, 3, 4, 5);
    const clock = { ...ctx, now: () => now };
    const first = toEnvelope({ type: "t" }, clock);
    const second = toEnvelope({ type: "t" }, clock);
    now += 1;
    const third = toEnvelope({ type: "t" }, clock);
    expect([first.time, second.time, third.time]).toEqual([
      "2026-01-02T03:04:05.000Z",
      "2026-01-02T03:04:05.000Z",
      "2026-01-02T03:04:05.001Z",
    ]);
  });
});

describe("stream names", () => {
  it("accepts the seed's names and refuses others", () => {
    for (const ok of ["ai.responses.raw", "metrics.calculated", "actions.recommended", "a_b-c"])
      expect(StreamName.safeParse(ok).success, ok).toBe(true);
    for (const bad of ["", "UPPER", "with space", "a/b", "x".repeat(129), "idem:x"])
      expect(StreamName.safeParse(bad).success, bad).toBe(false);
  });
});

describe("publish script", () => {
  it("has the pinned SHA-1", async () => {
    const digest = await crypto.subtle.digest("SHA-1", new TextEncoder().encode(PUBLISH_SCRIPT));
    const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
    expect(hex).toBe(PUBLISH_SCRIPT_SHA1);
  });
});
