import { describe, expect, it } from "vitest";
import { StreamName } from "./envelope.ts";
import {
  assignPartitions,
  fnv1a,
  groupByPartition,
  parsePartitionConfig,
  PARTITION_SEPARATOR,
  partitionCount,
  partitionOfSubject,
  partitionStream,
  spreadOffset,
} from "./partitions.ts";

describe("STREAM_PARTITIONS", () => {
  it("maps topics to partition counts, longest prefix first, 1 by default", () => {
    const config = parsePartitionConfig('{"*": 2, "ai.*": 4, "ai.responses.raw": 16}');
    expect(partitionCount("ai.responses.raw", config)).toBe(16);
    expect(partitionCount("ai.other", config)).toBe(4);
    expect(partitionCount("orders", config)).toBe(2);
    expect(partitionCount("orders", parsePartitionConfig(undefined))).toBe(1);
    expect(partitionCount("orders", parsePartitionConfig(" "))).toBe(1);
  });

  it.each([
    ["not JSON", "{", /STREAM_PARTITIONS is not JSON/],
    ["zero partitions", '{"a": 0}', /STREAM_PARTITIONS is invalid/],
    ["too many partitions", '{"a": 257}', /STREAM_PARTITIONS is invalid/],
    ["a fraction", '{"a": 1.5}', /STREAM_PARTITIONS is invalid/],
    ["a bad pattern", '{"A*b": 2}', /STREAM_PARTITIONS is invalid/],
  ])("refuses %s", (_, json, message) => {
    expect(() => parsePartitionConfig(json)).toThrow(message);
  });
});

describe("partition streams", () => {
  it("keeps a one-partition topic on its own stream and names the others apart", () => {
    expect(partitionStream("orders", 0, 1)).toBe("orders");
    expect(partitionStream("orders", 3, 4)).toBe(`orders${PARTITION_SEPARATOR}3`);
    expect(() => partitionStream("orders", 4, 4)).toThrow(RangeError);
    expect(() => partitionStream("orders", -1, 4)).toThrow(RangeError);
  });

  it("names partitions with a character no stream name can contain", () => {
    expect(StreamName.safeParse(partitionStream("orders", 1, 2)).success).toBe(false);
  });
});

describe("placement", () => {
  it("hashes with FNV-1a (reference values)", () => {
    expect(fnv1a("")).toBe(0x811c9dc5);
    expect(fnv1a("a")).toBe(0xe40c292c);
    expect(fnv1a("foobar")).toBe(0xbf9cf968);
  });

  it("puts every event of a subject in one partition, and spreads subjects", () => {
    const subjects = Array.from({ length: 400 }, (_, i) => `order-${i}`);
    const counts = new Array<number>(16).fill(0);
    for (const s of subjects) {
      const p = partitionOfSubject(s, 16);
      expect(partitionOfSubject(s, 16)).toBe(p);
      counts[p] = (counts[p] ?? 0) + 1;
    }
    // 400 subjects over 16 partitions: 25 each on average; none is empty or takes more than triple its share.
    expect(Math.min(...counts)).toBeGreaterThan(0);
    expect(Math.max(...counts)).toBeLessThan(75);
    expect(partitionOfSubject("anything", 1)).toBe(0);
  });

  it("spreads subject-less events round-robin from the offset, and subjects by hash", () => {
    const events = [{}, {}, { subject: "x" }, {}, {}];
    const p = assignPartitions(events, 4, 2);
    expect([p[0], p[1], p[3], p[4]]).toEqual([2, 3, 1, 2]);
    expect(p[2]).toBe(partitionOfSubject("x", 4));
  });

  it("places a retried batch exactly as the first attempt when it carries the same Idempotency-Key", () => {
    const events = Array.from({ length: 10 }, () => ({}));
    const first = assignPartitions(
      events,
      8,
      spreadOffset("req-1", () => 0.1),
    );
    const retry = assignPartitions(
      events,
      8,
      spreadOffset("req-1", () => 0.9),
    );
    expect(retry).toEqual(first);
    expect(spreadOffset(undefined, () => 0.5)).toBe(0x80000000);
  });

  it("groups items by partition in input order with their positions", () => {
    const groups = groupByPartition(["a", "b", "c", "d"], [1, 0, 1, 1]);
    expect([...groups.keys()]).toEqual([1, 0]);
    expect(groups.get(1)).toEqual([
      { item: "a", position: 0 },
      { item: "c", position: 2 },
      { item: "d", position: 3 },
    ]);
    expect(groups.get(0)).toEqual([{ item: "b", position: 1 }]);
  });
});
