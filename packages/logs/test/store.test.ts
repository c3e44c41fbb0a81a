import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { LogEntry } from "../src/entry.ts";
import { LogQuery } from "../src/query.ts";
import { insertLogs, pruneLogs, searchLogs, traceLines } from "../src/store.ts";

/** A service name of this test run alone, so other tests' lines never match. */
const service = `store-${crypto.randomUUID().slice(0, 8)}`;
const t0 = Date.parse("2026-12-01T10:00:00Z");
const line = (i: number, over: Partial<LogEntry> = {}): LogEntry => ({
  ts: t0 + i * 1000,
  service,
  level: "info",
  msg: `line ${i}`,
  correlationIds: [],
  traceId: null,
  fields: {},
  ...over,
});
const search = (query: Record<string, unknown>) => searchLogs(env, LogQuery.parse({ service, ...query }));

describe("the logs table in PostgreSQL", () => {
  it("filters by level and above, correlation ID (also among a delivery round's), trace ID, text and time, newest first", async () => {
    const trace = "0af7651916cd43dd8448eb211c80319c";
    await insertLogs(env, [
      line(0, { level: "debug" }),
      line(1, { level: "warn", msg: "slow upstream", correlationIds: ["c-a"] }),
      line(2, { level: "error", msg: "event handler failed", correlationIds: ["c-b"], fields: { error: "Payment 100% refused_x" } }),
      line(3, { msg: "delivery", correlationIds: ["c-a", "c-b"], traceId: trace }),
    ]);
    const msgs = async (query: Record<string, unknown>) => (await search(query)).entries.map((e) => e.msg);
    expect(await msgs({})).toEqual(["delivery", "event handler failed", "slow upstream", "line 0"]);
    expect(await msgs({ level: "warn" })).toEqual(["event handler failed", "slow upstream"]);
    expect(await msgs({ correlationId: "c-b" })).toEqual(["delivery", "event handler failed"]);
    expect(await msgs({ traceId: trace })).toEqual(["delivery"]);
    expect(await msgs({ q: "100% REFUSED_x" })).toEqual(["event handler failed"]);
    expect(await msgs({ q: "1_0" })).toEqual([]);
    expect(await msgs({ since: new Date(t0 + 1000).toISOString(), until: new Date(t0 + 3000).toISOString() })).toEqual([
      "event handler failed",
      "slow upstream",
    ]);
    const [first] = (await search({ traceId: trace })).entries;
    expect(first).toMatchObject({ ts: t0 + 3000, service, level: "info", correlationIds: ["c-a", "c-b"], traceId: trace, fields: {} });
  });

  it("pages through lines of the same time in a stable order with the cursor, and reads a trace oldest first", async () => {
    const correlationId = `page-${crypto.randomUUID()}`;
    await insertLogs(
      env,
      Array.from({ length: 7 }, (_, i) => line(100 + (i >> 1), { msg: `p${i}`, correlationIds: [correlationId] })),
    );
    const seen: string[] = [];
    let cursor: string | null | undefined;
    do {
      const page = await search({ correlationId, limit: "3", ...(cursor ? { cursor } : {}) });
      expect(page.entries.length).toBeLessThanOrEqual(3);
      seen.push(...page.entries.map((e) => e.msg));
      cursor = page.next;
    } while (cursor);
    expect(seen).toEqual(["p6", "p5", "p4", "p3", "p2", "p1", "p0"]);
    expect((await traceLines(env, correlationId)).map((e) => e.msg)).toEqual(["p0", "p1", "p2", "p3", "p4", "p5", "p6"]);
  });

  it("deletes lines older than the retention and keeps the younger ones", async () => {
    const old = `${service}-old`;
    await insertLogs(env, [line(0, { service: old, ts: Date.now() - 9 * 86_400_000 }), line(1, { service: old, ts: Date.now() })]);
    expect(await pruneLogs(env, Date.now() - 7 * 86_400_000)).toBeGreaterThanOrEqual(1);
    const left = await searchLogs(env, LogQuery.parse({ service: old }));
    expect(left.entries.map((e) => e.msg)).toEqual(["line 1"]);
  });
});
