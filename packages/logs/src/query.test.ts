import { describe, expect, it } from "vitest";
import { decodeCursor, encodeCursor, LogQuery, MAX_PAGE } from "./query.ts";

describe("LogQuery", () => {
  it("parses filters, times and the page, with 100 lines by default", () => {
    const q = LogQuery.parse({ service: "gateway", level: "warn", since: "2026-12-01T10:00:00Z", until: "2026-12-01T11:00:00+01:00" });
    expect(q).toEqual({
      service: "gateway",
      level: "warn",
      since: Date.parse("2026-12-01T10:00:00Z"),
      until: Date.parse("2026-12-01T10:00:00Z"),
      limit: 100,
    });
  });

  it("refuses since after until, an unknown level, an oversized limit, a foreign cursor and unknown parameters", () => {
    const issues = (input: Record<string, unknown>) => LogQuery.safeParse(input).error?.issues.map((i) => i.path.join("."));
    expect(issues({ since: "2026-12-02T00:00:00Z", until: "2026-12-01T00:00:00Z" })).toEqual(["since"]);
    expect(issues({ level: "fatal" })).toEqual(["level"]);
    expect(issues({ limit: String(MAX_PAGE + 1) })).toEqual(["limit"]);
    expect(issues({ limit: "0" })).toEqual(["limit"]);
    expect(issues({ cursor: "bm90LWEtY3Vyc29y" })).toEqual(["cursor"]);
    expect(issues({ since: "yesterday" })).toEqual(["since"]);
    expect(issues({ traceId: "XYZ" })).toEqual(["traceId"]);
    expect(issues({ q: "x".repeat(201) })).toEqual(["q"]);
    expect(issues({ sevice: "typo" })).toEqual([""]);
  });

  it("reads back the cursor it wrote", () => {
    const cursor = { ts: 1_796_177_029_026, id: 9_007_199_254_740_991 };
    const text = encodeCursor(cursor);
    expect(text).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(text)).toEqual(cursor);
    expect(LogQuery.parse({ cursor: text }).cursor).toEqual(cursor);
    expect(decodeCursor("%%%")).toBeUndefined();
  });
});
