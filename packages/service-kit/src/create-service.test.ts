import { describe, expect, it } from "vitest";
import { isJsonMediaType } from "./create-service.ts";

describe("isJsonMediaType", () => {
  it("accepts application/json and +json types with parameters, and nothing else", () => {
    for (const type of ["application/json", "Application/JSON", "application/json; charset=utf-8", "application/cloudevents+json"]) {
      expect(isJsonMediaType(type), type).toBe(true);
    }
    for (const type of [undefined, "", "text/plain", "text/json", "application/jsonp", "multipart/form-data; boundary=x"]) {
      expect(isJsonMediaType(type), String(type)).toBe(false);
    }
  });
});
