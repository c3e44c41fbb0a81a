import { describe, expect, it } from "vitest";
import { databaseTimeoutMs, DEFAULT_DATABASE_TIMEOUT_MS } from "./client.ts";

describe("databaseTimeoutMs", () => {
  it("reads DATABASE_TIMEOUT_MS, and takes the default when it is unset, empty or not a positive integer", () => {
    expect(databaseTimeoutMs({ DATABASE_TIMEOUT_MS: "1200" })).toBe(1200);
    for (const value of [undefined, "", "0", "-5", "1.5", "soon"]) {
      expect(databaseTimeoutMs({ DATABASE_TIMEOUT_MS: value }), String(value)).toBe(DEFAULT_DATABASE_TIMEOUT_MS);
    }
  });
});
