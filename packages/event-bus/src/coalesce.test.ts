import { describe, expect, it } from "vitest";
import { mergeBatches, splitResults } from "./coalesce.ts";
import type { PublishResult, SerialisedBatch } from "./publish.ts";

const batch = (stream: string, ...ids: string[]): SerialisedBatch => ({ stream, ids, payloads: ids.map((id) => `{"id":"${id}"}`) });

describe("mergeBatches", () => {
  it("puts each stream's events in one batch, every caller's contiguous and in caller order", () => {
    const { batches, slots } = mergeBatches([[batch("t~0", "a1", "a2"), batch("t~1", "a3")], [batch("t~1", "b1")], [batch("t~0", "c1")]]);
    expect(batches.map((b) => [b.stream, b.ids])).toEqual([
      ["t~0", ["a1", "a2", "c1"]],
      ["t~1", ["a3", "b1"]],
    ]);
    expect(batches[0]?.payloads).toEqual(['{"id":"a1"}', '{"id":"a2"}', '{"id":"c1"}']);
    expect(slots).toEqual([
      [
        { batch: 0, offset: 0, count: 2 },
        { batch: 1, offset: 0, count: 1 },
      ],
      [{ batch: 1, offset: 1, count: 1 }],
      [{ batch: 0, offset: 2, count: 1 }],
    ]);
  });
});

describe("splitResults", () => {
  const merged: PublishResult[] = [
    { streamIds: ["1-0", "1-1", "1-2"], eventIds: ["a1", "a2", "c1"], duplicate: false, retention: { heldBack: 0, trimmed: 5 } },
    { streamIds: ["2-0", "2-1"], eventIds: ["a3", "b1"], duplicate: false },
  ];

  it("gives every caller the stream and event ids of its own events, and a stream's retention to its first caller only", () => {
    const { slots } = mergeBatches([[batch("t~0", "a1", "a2"), batch("t~1", "a3")], [batch("t~1", "b1")], [batch("t~0", "c1")]]);
    expect(splitResults(merged, slots)).toEqual([
      [
        { streamIds: ["1-0", "1-1"], eventIds: ["a1", "a2"], duplicate: false, retention: { heldBack: 0, trimmed: 5 } },
        { streamIds: ["2-0"], eventIds: ["a3"], duplicate: false },
      ],
      [{ streamIds: ["2-1"], eventIds: ["b1"], duplicate: false }],
      [{ streamIds: ["1-2"], eventIds: ["c1"], duplicate: false }],
    ]);
  });

  it("refuses results that lack a batch a caller wrote to", () => {
    expect(() => splitResults(merged.slice(0, 1), [[{ batch: 1, offset: 0, count: 1 }]])).toThrow(/batch 1 is missing/);
  });
});
