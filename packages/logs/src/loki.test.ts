import { describe, expect, it } from "vitest";
import { z } from "zod";
import type { LogEntry } from "./entry.ts";
import { lokiPayload } from "./loki.ts";

/**
 * Loki's push API body as its HTTP API reference documents it (`POST /loki/api/v1/push`, `application/json`):
 * `{"streams": [{"stream": {"label": "value"}, "values": [["<unix epoch in nanoseconds>", "<log line>"], ...]}]}`,
 * label names as Prometheus' (`[a-zA-Z_][a-zA-Z0-9_]*`), the timestamp a string of decimal digits.
 */
const LokiPushBody = z
  .object({
    streams: z.array(
      z
        .object({
          stream: z.record(z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/), z.string()),
          values: z.array(z.tuple([z.string().regex(/^\d{19}$/), z.string()])).min(1),
        })
        .strict(),
    ),
  })
  .strict();

const entry = (over: Partial<LogEntry>): LogEntry => ({
  ts: Date.parse("2026-12-01T10:00:00.123Z"),
  service: "gateway",
  level: "info",
  msg: "request",
  correlationIds: [],
  traceId: null,
  fields: {},
  ...over,
});

describe("lokiPayload", () => {
  it("matches Loki's documented push body: one stream per service and level, nanosecond string times, JSON lines in time order", () => {
    const body = lokiPayload([
      entry({
        ts: Date.parse("2026-12-01T10:00:01Z"),
        correlationIds: ["c1"],
        traceId: "0af7651916cd43dd8448eb211c80319c",
        fields: { status: 200 },
      }),
      entry({ ts: Date.parse("2026-12-01T10:00:00.123Z") }),
      entry({ service: "example", level: "error", msg: "event handler failed", correlationIds: ["c1", "c2"] }),
    ]);
    expect(LokiPushBody.safeParse(JSON.parse(JSON.stringify(body))).success).toBe(true);
    expect(body.streams.map((s) => s.stream)).toEqual([
      { job: "foundation", service: "gateway", level: "info" },
      { job: "foundation", service: "example", level: "error" },
    ]);
    expect(body.streams[0]?.values.map((v) => v[0])).toEqual(["1796119200123000000", "1796119201000000000"]);
    expect(JSON.parse(body.streams[0]?.values[1]?.[1] ?? "")).toEqual({
      msg: "request",
      correlationId: "c1",
      traceId: "0af7651916cd43dd8448eb211c80319c",
      status: 200,
    });
    expect(JSON.parse(body.streams[1]?.values[0]?.[1] ?? "")).toMatchObject({ correlationId: "c1", correlationIds: ["c1", "c2"] });
  });
});
