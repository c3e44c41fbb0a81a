import { describe, expect, it } from "vitest";
import { boundEntry, LIMITS } from "./entry.ts";
import { entriesOfItem, serviceOfScript, unlabelled, type TailItem } from "./tail-items.ts";

const kitLine = (fields: Record<string, unknown>) => JSON.stringify({ ts: "2026-12-01T10:00:00.250Z", level: "info", ...fields });

/** A trace item shaped as workerd hands it to a Tail Worker (checked against a real one in workers/gateway/test/logs.node.test.ts). */
function item(over: Partial<TailItem> = {}): TailItem {
  return {
    scriptName: "foundation-gateway-staging",
    eventTimestamp: Date.parse("2026-12-01T10:00:00Z"),
    outcome: "ok",
    executionModel: "stateless",
    event: {
      request: { url: "https://foundation.example.com/api/example/hello?x=1", method: "GET", headers: { "x-correlation-id": "req-1" } },
      response: { status: 200 },
    },
    logs: [],
    exceptions: [],
    ...over,
  };
}

describe("entriesOfItem", () => {
  it("reads a kit line under `wrangler dev`, which puts a [worker-name] label before it", () => {
    const line = kitLine({ msg: "request", service: "example", correlationId: "req-9" });
    for (const message of [[`[foundation-example] ${line}`], ["[foundation-example]", line]]) {
      const { entries } = entriesOfItem(item({ scriptName: null, logs: [{ timestamp: 1, level: "log", message }] }));
      expect(entries[0]).toMatchObject({ service: "example", msg: "request", correlationIds: ["req-9"] });
    }
    expect(unlabelled(["[not a label] x"])).toEqual(["[not a label] x"]);
  });

  it("takes a kit line's service, correlation ID, trace ID and level as columns and keeps the other fields", () => {
    const message = [
      kitLine({
        msg: "request",
        service: "gateway",
        version: "0.1.0",
        correlationId: "req-1",
        traceId: "0af7651916cd43dd8448eb211c80319c",
        status: 200,
        durationMs: 12.5,
      }),
    ];
    const { entries, dropped } = entriesOfItem(item({ logs: [{ timestamp: 1, level: "log", message }] }));
    expect(dropped).toBe(0);
    expect(entries).toEqual([
      {
        ts: Date.parse("2026-12-01T10:00:00.250Z"),
        service: "gateway",
        level: "info",
        msg: "request",
        correlationIds: ["req-1"],
        traceId: "0af7651916cd43dd8448eb211c80319c",
        fields: { version: "0.1.0", status: 200, durationMs: 12.5 },
      },
    ]);
  });

  it("adds a request line from the event when no kit line reported the request, and names the worker without prefix or environment", () => {
    const { entries } = entriesOfItem(item({ logs: [{ timestamp: 5, level: "warn", message: ["plain", 42, { a: 1 }] }] }));
    expect(entries.map((e) => [e.service, e.level, e.msg])).toEqual([
      ["gateway", "warn", 'plain 42 {"a":1}'],
      ["gateway", "info", "request"],
    ]);
    expect(entries[1]).toMatchObject({
      correlationIds: ["req-1"],
      fields: { method: "GET", path: "/api/example/hello", status: 200, event: "fetch" },
    });
  });

  it("records an uncaught exception and the failed invocation at level error, joined to the request's correlation ID", () => {
    const { entries } = entriesOfItem(
      item({
        outcome: "exception",
        event: { request: { url: "http://x/throw", method: "POST", headers: { "x-correlation-id": "c-9" } } },
        exceptions: [{ timestamp: 7, name: "TypeError", message: "boom", stack: "at a\nat b" }],
      }),
    );
    expect(entries.map((e) => [e.msg, e.level, e.correlationIds])).toEqual([
      ["uncaught exception", "error", ["c-9"]],
      ["request", "error", ["c-9"]],
    ]);
    expect(entries[0]?.fields).toMatchObject({ errorName: "TypeError", error: "boom" });
    expect(entries[1]?.fields).toMatchObject({ outcome: "exception" });
  });

  it("adds no line of its own for an alarm or RPC call that ended ok, and falls back to a line's component for its service", () => {
    const delivery = kitLine({ msg: "delivery", component: "stream-consumer", correlationIds: ["a", "b"], delivered: 2 });
    const { entries } = entriesOfItem(
      item({
        scriptName: null,
        executionModel: "durableObject",
        event: { scheduledTime: 1 },
        logs: [{ timestamp: 1, level: "log", message: [delivery] }],
      }),
    );
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      service: "stream-consumer",
      msg: "delivery",
      correlationIds: ["a", "b"],
      fields: { component: "stream-consumer", delivered: 2 },
    });
  });

  it(`keeps at most ${LIMITS.linesPerInvocation} lines of one invocation and counts the rest as dropped`, () => {
    const logs = Array.from({ length: 250 }, (_, i) => ({ timestamp: i, level: "log", message: [`line ${i}`] }));
    const { entries, dropped } = entriesOfItem(item({ logs }));
    expect(entries).toHaveLength(LIMITS.linesPerInvocation);
    expect(dropped).toBe(251 - LIMITS.linesPerInvocation);
  });

  it("names a script without Foundation's prefix and environment suffix", () => {
    expect([serviceOfScript("foundation-example-production"), serviceOfScript("billing"), serviceOfScript(null)]).toEqual([
      "example",
      "billing",
      undefined,
    ]);
  });
});

describe("boundEntry", () => {
  const base = { ts: 0, service: "s", level: "info" as const, msg: "m", correlationIds: [], traceId: null };

  it("cuts a long message, an oversized field and fields past the line size, and marks the line truncated", () => {
    const fields: Record<string, unknown> = { big: "x".repeat(5000), list: Array.from({ length: 1000 }, (_, i) => i) };
    for (let i = 0; i < 10; i++) fields[`f${i}`] = "y".repeat(1500);
    const e = boundEntry({ ...base, msg: "m".repeat(1000), fields });
    expect(e.msg.length).toBe(LIMITS.msgChars + 1);
    expect(JSON.stringify(e.fields).length).toBeLessThanOrEqual(LIMITS.lineChars + 32);
    expect((e.fields.big as string).length).toBeLessThan(LIMITS.fieldChars);
    expect(typeof e.fields.list).toBe("string");
    expect(e.fields.truncated).toBe(true);
  });

  it(`keeps at most ${LIMITS.fields} fields and ${LIMITS.correlationIds} distinct correlation IDs, and only a real trace ID`, () => {
    const fields = Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, i]));
    const ids = Array.from({ length: 30 }, (_, i) => `id-${i % 25}`);
    const e = boundEntry({ ...base, fields, correlationIds: ["", "x".repeat(200), ...ids], traceId: "not-a-trace" });
    expect(Object.keys(e.fields)).toHaveLength(LIMITS.fields + 1);
    expect(e.correlationIds).toEqual(Array.from({ length: 20 }, (_, i) => `id-${i}`));
    expect(e.traceId).toBeNull();
  });

  it("leaves a line within the limits as it is", () => {
    const e = { ...base, correlationIds: ["a"], traceId: "0af7651916cd43dd8448eb211c80319c", fields: { status: 200 } };
    expect(boundEntry(e)).toEqual(e);
  });
});
