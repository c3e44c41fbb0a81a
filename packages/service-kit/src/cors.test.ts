import { describe, expect, it } from "vitest";
import { withVaryOrigin } from "./cors.ts";

describe("withVaryOrigin", () => {
  it("adds Origin to no Vary, an empty one, or one without it", () => {
    expect(withVaryOrigin(null)).toBe("Origin");
    expect(withVaryOrigin("  ")).toBe("Origin");
    expect(withVaryOrigin("Accept-Encoding")).toBe("Accept-Encoding, Origin");
  });

  it("keeps a Vary that lists Origin once, in any case, or varies on everything", () => {
    expect(withVaryOrigin("Origin")).toBe("Origin");
    expect(withVaryOrigin("Accept-Encoding, origin")).toBe("Accept-Encoding, origin");
    expect(withVaryOrigin("*")).toBe("*");
  });

  it("removes repeats of Origin and keeps the other fields in order", () => {
    expect(withVaryOrigin("Origin, Origin")).toBe("Origin");
    expect(withVaryOrigin("Origin, Accept-Encoding, origin, Accept")).toBe("Origin, Accept-Encoding, Accept");
  });
});
