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

describe("createLogger's field order and repeats", () => {
  const capture = () => {
    const lines: string[] = [];
    return { lines, sink: (line: string) => lines.push(line) };
  };

  it("puts ts, level and msg first, then base, child and call fields, and leaves out undefined values", () => {
    const { lines, sink } = capture();
    createLogger({ service: "svc", version: "1" }, sink, () => 0)
      .child({ correlationId: "abc", traceId: undefined })
      .child({})
      .info("request", { status: 200, skipped: undefined });
    createLogger({}, sink, () => 0).info("bare");
    expect(lines).toEqual([
      '{"ts":"1970-01-01T00:00:00.000Z","level":"info","msg":"request","service":"svc","version":"1","correlationId":"abc","status":200}',
      '{"ts":"1970-01-01T00:00:00.000Z","level":"info","msg":"bare"}',
    ]);
  });

  it("lets a child's or a call's field replace a bound one, or ts, level and msg, in its place, never twice", () => {
    const { lines, sink } = capture();
    const log = createLogger({ service: "svc", component: "a" }, sink, () => 0);
    log.child({ component: "b" }).warn("child wins", { n: 1 });
    log.info("call wins", { service: "other", msg: "replaced" });
    createLogger({ level: "custom" }, sink, () => 0).error("base names a line key");
    expect(lines).toEqual([
      '{"ts":"1970-01-01T00:00:00.000Z","level":"warn","msg":"child wins","service":"svc","component":"b","n":1}',
      '{"ts":"1970-01-01T00:00:00.000Z","level":"info","msg":"replaced","service":"other","component":"a"}',
      '{"ts":"1970-01-01T00:00:00.000Z","level":"custom","msg":"base names a line key"}',
    ]);
  });

  it("escapes what JSON needs escaped in the message and the fields", () => {
    const { lines, sink } = capture();
    createLogger({ service: 'a"b' }, sink, () => 0).info('say "hi"\n', { path: "/x\\y" });
    expect(JSON.parse(lines[0] ?? "")).toEqual({
      ts: "1970-01-01T00:00:00.000Z",
      level: "info",
      msg: 'say "hi"\n',
      service: 'a"b',
      path: "/x\\y",
    });
  });
});
