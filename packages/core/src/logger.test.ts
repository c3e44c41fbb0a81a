import { describe, expect, it } from "vitest";
import { createLogger, type LogLevel } from "./logger.ts";

describe("createLogger", () => {
  it("writes one JSON object per line with base, child and call fields", () => {
    const lines: Array<[string, LogLevel]> = [];
    const log = createLogger(
      { service: "svc" },
      (line, level) => lines.push([line, level]),
      () => 0,
    ).child({ correlationId: "abc" });
    log.warn("slow", { durationMs: 12 });
    expect(lines).toHaveLength(1);
    expect(lines[0]?.[1]).toBe("warn");
    expect(JSON.parse(lines[0]?.[0] ?? "")).toEqual({
      ts: "1970-01-01T00:00:00.000Z",
      level: "warn",
      msg: "slow",
      service: "svc",
      correlationId: "abc",
      durationMs: 12,
    });
  });
});
