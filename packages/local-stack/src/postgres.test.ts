import { describe, expect, it } from "vitest";
import { postgresArgs, postgresSettings } from "./postgres.ts";

describe("postgres command line", () => {
  it("turns fsync off only for the test profile, and passes every setting as -c name=value", () => {
    const t = postgresSettings(5440, "/s", "test");
    expect(t.fsync).toBe("off");
    expect(postgresSettings(5440, "/s", "dev").fsync).toBe(undefined);
    expect(postgresArgs("/pg", { port: "1" })).toStrictEqual(["-D", "/pg", "-c", "port=1"]);
  });
});
