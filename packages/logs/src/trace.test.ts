import { describe, expect, it } from "vitest";
import type { LogEntry } from "./entry.ts";
import { assembleTrace } from "./trace.ts";

const at = (ms: number) => Date.parse("2026-12-01T10:00:00Z") + ms;
const line = (
  ts: number,
  service: string,
  msg: string,
  fields: Record<string, unknown> = {},
  level: LogEntry["level"] = "info",
): LogEntry => ({
  ts: at(ts),
  service,
  level,
  msg,
  correlationIds: ["c1"],
  traceId: null,
  fields,
});

describe("assembleTrace", () => {
  it("orders the gateway request, the service call, the publish, the delivery and the handlers by when each began", () => {
    // As stored: each request line is written when its answer is ready, so the outermost comes last.
    const lines = [
      line(40, "gateway", "request", {
        method: "POST",
        path: "/api/foundation/events/example.greetings",
        route: "/api/foundation/events/:stream",
        status: 202,
        durationMs: 20,
      }),
      line(50, "example", "request", { method: "POST", path: "/greetings", status: 202, durationMs: 40 }),
      line(60, "gateway", "request", {
        method: "POST",
        path: "/api/example/greetings",
        route: "/api/:service/*",
        status: 202,
        durationMs: 55,
      }),
      line(200, "example", "event handled", { stream: "example.greetings", eventId: "e1", deliveryCount: 1 }),
      line(201, "example", "request", { method: "POST", path: "/_foundation/events", status: 200, durationMs: 5 }),
      line(205, "stream-consumer", "delivery", {
        stream: "example.greetings",
        group: "g",
        target: "service:example",
        delivered: 1,
        failed: 0,
        redelivered: 0,
        durationMs: 10,
      }),
      line(
        400,
        "example",
        "event handler failed",
        { stream: "example.greetings", eventId: "e2", deliveryCount: 2, error: "nope" },
        "error",
      ),
    ];
    const trace = assembleTrace("c1", lines);
    expect(trace.steps.map((s) => [s.kind, s.service])).toEqual([
      ["request", "gateway"],
      ["service-call", "example"],
      ["publish", "gateway"],
      ["delivery", "stream-consumer"],
      ["delivery", "example"],
      ["handler", "example"],
      ["handler", "example"],
    ]);
    expect(trace.steps.map((s) => s.summary)).toEqual([
      "POST /api/example/greetings → 202",
      "POST /greetings → 202",
      "POST /api/foundation/events/example.greetings → 202",
      "example.greetings/g → service:example: 1 delivered, 0 failed",
      "received POST /_foundation/events → 200",
      "example.greetings e1 attempt 1: ok",
      "example.greetings e2 attempt 2: failed: nope",
    ]);
    expect([trace.startedAt, trace.endedAt, trace.services]).toEqual([at(5), at(400), ["gateway", "example", "stream-consumer"]]);
  });

  it("puts a service call before the publish it made in the same millisecond, although the publish's line came first", () => {
    const trace = assembleTrace("c1", [
      line(5, "gateway", "request", {
        path: "/api/foundation/events/s",
        route: "/api/foundation/events/:stream",
        status: 202,
        durationMs: 5,
      }),
      line(9, "gateway", "request", { path: "/api/example/greetings", route: "/api/:service/*", status: 202, durationMs: 9 }),
    ]);
    expect(trace.steps.map((s) => [s.startedAt, s.summary.includes("greetings")])).toEqual([
      [at(0), true],
      [at(0), false],
    ]);
  });

  it("keeps lines that began at the same time in the order they were written", () => {
    const trace = assembleTrace("c1", [
      line(0, "a", "first"),
      line(0, "a", "second"),
      line(0, "a", "uncaught exception", { errorName: "Error", error: "x" }, "error"),
    ]);
    expect(trace.steps.map((s) => [s.kind, s.summary])).toEqual([
      ["log", "first"],
      ["log", "second"],
      ["exception", "Error: x"],
    ]);
  });
});
