import { describe, expect, it } from "vitest";
import { canonicalJson } from "./canonical-json.ts";

describe("canonicalJson", () => {
  it("gives equal values one text whatever the order of their keys", () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }] })).toBe('{"a":[{"c":3,"d":2}],"b":1}');
    expect(canonicalJson({ x: { z: null, y: "s" } })).toBe(canonicalJson({ x: { y: "s", z: null } }));
  });

  it("keeps arrays in order and tells different values apart", () => {
    expect(canonicalJson([2, 1])).not.toBe(canonicalJson([1, 2]));
    expect(canonicalJson({ a: 1 })).not.toBe(canonicalJson({ a: "1" }));
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
  });
});
