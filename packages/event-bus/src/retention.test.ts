import { describe, expect, it } from "vitest";
import { DEFAULT_RETENTION, parseRetentionConfig, retentionFor, trimRule } from "./retention.ts";

describe("STREAM_RETENTION", () => {
  const config = parseRetentionConfig(
    JSON.stringify({
      "*": { maxLen: 1000 },
      "ai.*": { maxAgeSeconds: 3600 },
      "ai.responses.*": { maxLen: 50 },
      "audit.log": { archive: true },
    }),
  );

  it("takes the exact entry, else the longest matching prefix, else the default", () => {
    expect(retentionFor("audit.log", config)).toEqual({ archive: true });
    expect(retentionFor("ai.responses.raw", config)).toEqual({ maxLen: 50, archive: false });
    expect(retentionFor("ai.metrics", config)).toEqual({ maxAgeSeconds: 3600, archive: false });
    expect(retentionFor("orders", config)).toEqual({ maxLen: 1000, archive: false });
    expect(retentionFor("orders", {})).toEqual(DEFAULT_RETENTION);
    expect(parseRetentionConfig(undefined)).toEqual({});
  });

  it.each([
    ["not JSON", "{"],
    ["both limits", '{"*": {"maxLen": 1, "maxAgeSeconds": 1}}'],
    ["a zero length", '{"*": {"maxLen": 0}}'],
    ["an unknown field", '{"*": {"maxLen": 5, "ttl": 3}}'],
    ["a bad pattern", '{"Orders*": {"maxLen": 5}}'],
  ])("refuses %s with a readable error", (_, json) => {
    expect(() => parseRetentionConfig(json)).toThrow(/STREAM_RETENTION/);
  });

  it("archives only streams named exactly: a prefix that archives would let any publisher start archivers", () => {
    expect(() => parseRetentionConfig('{"*": {"maxLen": 5, "archive": true}}')).toThrow(/"\*" is a prefix/);
    expect(() => parseRetentionConfig('{"ai.*": {"archive": true}}')).toThrow(/archive: true needs a stream named exactly/);
    expect(retentionFor("ai.new", parseRetentionConfig('{"ai.*": {"archive": false}, "ai.raw": {"archive": true}}'))).toEqual({
      archive: false,
    });
  });

  it("turns an age into the oldest stream id to keep at the injected time", () => {
    expect(trimRule({ maxAgeSeconds: 60, archive: false }, 1_700_000_120_000)).toEqual({ kind: "minid", minId: "1700000060000-0" });
    expect(trimRule({ maxLen: 10, archive: false }, 0)).toEqual({ kind: "maxlen", maxLen: 10 });
    expect(trimRule({ archive: true }, 0)).toEqual({ kind: "none" });
  });
});
