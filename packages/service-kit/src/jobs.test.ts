import { describe, expect, it } from "vitest";
import { handlerFor } from "./jobs.ts";

describe("handlerFor", () => {
  it("takes a queue's own handler, else the longest matching prefix", () => {
    const handlers = new Map([
      ["reports", "own"],
      ["reports.*", "reports"],
      ["reports.weekly.*", "weekly"],
      ["*", "any"],
    ]);
    expect(handlerFor(handlers, "reports")).toBe("own");
    expect(handlerFor(handlers, "reports.daily")).toBe("reports");
    expect(handlerFor(handlers, "reports.weekly.eu")).toBe("weekly");
    expect(handlerFor(handlers, "other")).toBe("any");
    expect(handlerFor(new Map([["a", 1]]), "b")).toBeUndefined();
  });
});
