import { describe, expect, it } from "vitest";
import { underPrefix } from "./path-prefix.ts";

describe("underPrefix", () => {
  it("matches a prefix at segment boundaries only", () => {
    expect(underPrefix("/api/example/hello", "/api/example/hello")).toBe(true);
    expect(underPrefix("/api/example/hello/x", "/api/example/hello")).toBe(true);
    expect(underPrefix("/api/example/hello-admin", "/api/example/hello")).toBe(false);
    expect(underPrefix("/api/example/helloadmin", "/api/example/hello")).toBe(false);
  });

  it("treats a prefix ending in a slash as everything below it", () => {
    expect(underPrefix("/api/anything", "/api/")).toBe(true);
    expect(underPrefix("/api", "/api/")).toBe(false);
  });
});
