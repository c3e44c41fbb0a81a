import { describe, expect, it } from "vitest";
import {
  firstRetryDueInMs,
  idlePollDelayMs,
  planRetries,
  RETRY_JITTER_MAX,
  RETRY_JITTER_MIN,
  retryDelayMs,
  retryJitter,
} from "./backoff.ts";
import { correlationIdOf, deliveryBody, DeliveryRequest, outcomes, parseStoredEvent, readSignedDelivery } from "./delivery.ts";
import { serialiseEvent, toEnvelope } from "./envelope.ts";

const policy = { retryBackoffMs: 1000, maxBackoffMs: 10_000, maxDeliveries: 4 };

describe("retry timing", () => {
  it("doubles the wait with every delivery, up to the cap", () => {
    expect([1, 2, 3, 4, 5, 50].map((n) => retryDelayMs(n, policy))).toEqual([1000, 2000, 4000, 8000, 10_000, 10_000]);
  });

  it("redelivers due entries, dead-letters exhausted ones and says when the next is due, each after its own jittered delay", () => {
    const due = retryDelayMs(1, policy, "1-0");
    const second = retryDelayMs(2, policy, "2-0");
    const plan = planRetries(
      [
        { streamId: "1-0", idleMs: due, deliveries: 1 },
        { streamId: "2-0", idleMs: 1500, deliveries: 2 },
        { streamId: "3-0", idleMs: 0, deliveries: 4 },
      ],
      policy,
    );
    expect(plan).toEqual({ redeliver: ["1-0"], deadLetter: [{ streamId: "3-0", idleMs: 0, deliveries: 4 }], nextDueInMs: second - 1500 });
    expect(planRetries([{ streamId: "1-0", idleMs: due - 1, deliveries: 1 }], policy)).toMatchObject({ redeliver: [], nextDueInMs: 1 });
  });

  it("jitters a keyed delay by a factor in [0.75, 1.25) of the capped exponential delay", () => {
    const ids = Array.from({ length: 1000 }, (_, i) => `${1_719_000_000_000 + (i >> 2)}-${i & 3}`);
    for (const deliveries of [1, 2, 3, 4, 5, 50]) {
      const base = retryDelayMs(deliveries, policy);
      for (const id of ids) {
        const delay = retryDelayMs(deliveries, policy, id);
        expect(delay).toBeGreaterThanOrEqual(Math.floor(base * RETRY_JITTER_MIN));
        expect(delay).toBeLessThan(base * RETRY_JITTER_MAX);
      }
    }
    for (const id of ids) {
      const factor = retryJitter(id, 1);
      expect(factor >= RETRY_JITTER_MIN && factor < RETRY_JITTER_MAX).toBe(true);
    }
  });

  it("gives one entry the same delay in every round, and a new one when its delivery count grows", () => {
    const id = "1719000000000-7";
    expect(retryDelayMs(2, policy, id)).toBe(retryDelayMs(2, policy, id));
    expect(Array.from({ length: 5 }, () => planRetries([{ streamId: id, idleMs: 0, deliveries: 2 }], policy).nextDueInMs)).toEqual(
      Array.from({ length: 5 }, () => retryDelayMs(2, policy, id)),
    );
    const factors = new Set([1, 2, 3, 4, 5, 6].map((n) => retryJitter(id, n)));
    expect(factors.size).toBe(6);
  });

  it("spreads entries that failed together: 100 consecutive ids get many distinct delays averaging the base", () => {
    for (const ids of [
      Array.from({ length: 100 }, (_, i) => `${1_719_000_000_000 + i}-0`),
      Array.from({ length: 100 }, (_, i) => `1719000000000-${i}`),
    ]) {
      const delays = ids.map((id) => retryDelayMs(1, policy, id));
      expect(new Set(delays).size).toBeGreaterThanOrEqual(75);
      const mean = delays.reduce((a, b) => a + b, 0) / delays.length;
      expect(Math.abs(mean - 1000)).toBeLessThan(50);
      expect(delays.filter((d) => d < 1000).length).toBeGreaterThanOrEqual(30);
      expect(delays.filter((d) => d >= 1000).length).toBeGreaterThanOrEqual(30);
      // Each tenth of the range [750, 1250) holds some of them: no lockstep cluster.
      const tenths = new Set(delays.map((d) => Math.floor((d - 750) / 50)));
      expect(tenths.size).toBe(10);
    }
  });

  it("schedules the round after failures for the soonest failed entry's jittered delay", () => {
    const failed = [
      { streamId: "1719000000000-0", deliveries: 1 },
      { streamId: "1719000000001-0", deliveries: 1 },
      { streamId: "1719000000002-0", deliveries: 3 },
    ];
    expect(firstRetryDueInMs(failed, policy)).toBe(Math.min(...failed.map((f) => retryDelayMs(f.deliveries, policy, f.streamId))));
    expect(firstRetryDueInMs([], policy)).toBeNull();
  });

  it("backs an idle consumer off from 1 s to a minute", () => {
    expect([0, 1, 2, 6, 7, 30].map((n) => idlePollDelayMs(n))).toEqual([1000, 2000, 4000, 60_000, 60_000, 60_000]);
  });
});

describe("delivery outcomes", () => {
  it("takes per-event verdicts and fails events the subscriber did not mention", () => {
    const r = outcomes(["1-0", "2-0", "3-0"], 200, {
      results: [
        { streamId: "1-0", ok: true },
        { streamId: "2-0", ok: false, error: "boom" },
      ],
    });
    expect(Object.fromEntries(r)).toEqual({
      "1-0": { ok: true },
      "2-0": { ok: false, error: "boom" },
      "3-0": { ok: false, error: "no result for this event" },
    });
  });

  it("fails the whole batch on a non-2xx or unreadable answer", () => {
    expect(outcomes(["1-0"], 500, { results: [{ streamId: "1-0", ok: true }] }).get("1-0")).toEqual({
      ok: false,
      error: "subscriber answered HTTP 500",
    });
    expect(outcomes(["1-0"], 200, "<html>").get("1-0")).toEqual({ ok: false, error: "unreadable subscriber answer" });
    for (const results of [[{ streamId: "1-0", ok: "yes" }], [{ streamId: "1-0", ok: false, error: "x".repeat(1001) }], {}]) {
      expect(outcomes(["1-0"], 200, { results }).get("1-0")).toEqual({ ok: false, error: "unreadable subscriber answer" });
    }
  });

  it("ignores keys it does not know in an answer", () => {
    expect(outcomes(["1-0"], 200, { results: [{ streamId: "1-0", ok: true, tookMs: 3 }], extra: 1 }).get("1-0")).toEqual({ ok: true });
  });
});

describe("reading a signed delivery batch", () => {
  const event = { specversion: "1.0", id: "e1", source: "/orders", type: "order.placed", time: "2026-11-27T10:00:00.000Z", data: { n: 1 } };
  const batch = (overrides: Record<string, unknown> = {}, eventOverrides: Record<string, unknown> = {}) => ({
    stream: "orders",
    group: "billing",
    deliveries: [{ streamId: "1-0", deliveryCount: 1, event: { ...event, ...eventOverrides } }],
    ...overrides,
  });

  it("takes what the full schema takes, as it is", () => {
    const body = batch({}, { subject: "order-1", correlationid: "c-1", datacontenttype: "application/json" });
    expect(DeliveryRequest.safeParse(body).success).toBe(true);
    expect(readSignedDelivery(body)).toBe(body);
    expect(readSignedDelivery(batch({ deliveries: [] }))).toBeDefined();
  });

  it("refuses wrong shapes and types, so a handler never gets a malformed event", () => {
    const bad = [
      null,
      [],
      batch({ stream: 42 }),
      batch({ stream: "Not A Stream!" }),
      batch({ group: undefined }),
      batch({ deliveries: {} }),
      batch({ deliveries: Array.from({ length: 1001 }, () => ({ streamId: "1-0", deliveryCount: 1, event })) }),
      batch({ deliveries: [{ streamId: 1, deliveryCount: 1, event }] }),
      batch({ deliveries: [{ streamId: "1-0", deliveryCount: 0, event }] }),
      batch({ deliveries: [{ streamId: "1-0", deliveryCount: 1.5, event }] }),
      batch({ deliveries: [{ streamId: "1-0", deliveryCount: 1, event: "{}" }] }),
      batch({}, { specversion: "0.3" }),
      batch({}, { id: 7 }),
      batch({}, { source: undefined }),
      batch({}, { type: null }),
      batch({}, { time: 1 }),
      batch({}, { subject: {} }),
      batch({}, { correlationid: 5 }),
    ];
    for (const body of bad) {
      expect(readSignedDelivery(body)).toBeUndefined();
      expect(DeliveryRequest.safeParse(body).success).toBe(false);
    }
  });
});

describe("delivery bodies built from the stored text", () => {
  const ctx = { source: "/orders", correlationId: "c-42", now: () => 1_800_000_000_000, newId: () => "id-1" };
  const stored = [
    serialiseEvent(
      toEnvelope({ type: "order.placed", subject: "order-1", data: { total: 12.5, note: 'a "quoted" ünïcödé \\ line\n' } }, ctx),
    ),
    JSON.stringify({ specversion: "1.0", id: "e2", source: "/x", type: "t", correlationid: "c-7", data: [1, { correlationid: "nested" }] }),
  ];

  it("is the text JSON.stringify gives for the parsed events", () => {
    const raw = stored.map((json, i) => ({ streamId: `${i + 1}-0`, deliveryCount: i + 1, json }));
    const parsed = raw.map((d) => ({ streamId: d.streamId, deliveryCount: d.deliveryCount, event: JSON.parse(d.json) as unknown }));
    const body = deliveryBody("orders", "billing", raw);
    expect(body).toBe(JSON.stringify({ stream: "orders", group: "billing", deliveries: parsed }));
    expect(DeliveryRequest.safeParse(JSON.parse(body)).success).toBe(true);
    expect(deliveryBody("orders", "billing", [])).toBe('{"stream":"orders","group":"billing","deliveries":[]}');
  });

  it("reads the correlation ID of the envelope, never one inside the data", () => {
    expect(correlationIdOf(stored[0] ?? "")).toBe("c-42");
    expect(correlationIdOf(stored[1] ?? "")).toBe("c-7");
    expect(correlationIdOf(JSON.stringify({ id: "e", data: { correlationid: "nested" } }))).toBeUndefined();
    expect(correlationIdOf(JSON.stringify({ id: "e", data: { x: { correlationid: "nested" } }, correlationid: 'with "quotes"' }))).toBe(
      'with "quotes"',
    );
    expect(correlationIdOf(JSON.stringify({ id: "e" }))).toBeUndefined();
    expect(correlationIdOf('not json "correlationid":"x')).toBeUndefined();
  });

  it("tells a stored JSON object from anything else", () => {
    expect(stored.every((json) => parseStoredEvent(json) !== undefined)).toBe(true);
    for (const bad of ["", "not json", "[1]", "null", "42", '{"a":', '"text"']) expect(parseStoredEvent(bad)).toBeUndefined();
  });
});
