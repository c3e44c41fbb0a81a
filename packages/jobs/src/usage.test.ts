import { describe, expect, it } from "vitest";
import { SqlMeter } from "./usage.ts";

/** A fake `exec` as a whole `SqlStorage` (the rest is unused). */
const storage = (exec: (query: string, ...bindings: unknown[]) => object): SqlStorage =>
  ({ exec, databaseSize: 0 }) as unknown as SqlStorage;

/** A stand-in for `ctx.storage.sql`: each statement "reads" one row per row it yields and writes `writes` rows. */
function fakeSql(rows: Record<string, number>, writes: Record<string, number>): SqlStorage {
  return storage((query: string) => {
    let read = 0;
    const all = Array.from({ length: rows[query] ?? 0 }, (_, i) => ({ i }));
    const cursor = {
      rowsWritten: writes[query] ?? 0,
      get rowsRead() {
        return read;
      },
      toArray() {
        read = all.length;
        return all;
      },
    };
    return cursor;
  });
}

describe("the SQL meter", () => {
  it("counts statements and the rows they read and wrote, the last cursor included once read", () => {
    const meter = new SqlMeter(fakeSql({ select: 3 }, { insert: 2, update: 1 }));
    meter.sql.exec("insert");
    meter.sql.exec("update");
    expect(meter.usage()).toEqual({ statements: 2, rowsRead: 0, rowsWritten: 3 });
    const cursor = meter.sql.exec("select");
    expect(meter.usage()).toEqual({ statements: 3, rowsRead: 0, rowsWritten: 3 });
    expect(cursor.toArray()).toHaveLength(3);
    expect(meter.usage()).toEqual({ statements: 3, rowsRead: 3, rowsWritten: 3 });
    meter.sql.exec("update");
    expect(meter.usage()).toEqual({ statements: 4, rowsRead: 3, rowsWritten: 4 });
  });

  it("passes the statement and its bindings through and answers the storage's own cursor", () => {
    const seen: unknown[][] = [];
    const inner = storage((query, ...bindings) => {
      seen.push([query, ...bindings]);
      return { rowsRead: 0, rowsWritten: 0, marker: true };
    });
    const cursor = new SqlMeter(inner).sql.exec("SELECT ?", 7);
    expect(seen).toEqual([["SELECT ?", 7]]);
    expect(cursor).toMatchObject({ marker: true });
  });
});
