import { describe, expect, it } from "vitest";
import { parseCommandLine, portsFromEnv } from "./cli.ts";

describe("ports", () => {
  it("uses the dev profile's fixed ports or free ports for test, lets env override each, and refuses a non-number", () => {
    expect(portsFromEnv("dev", {})).toStrictEqual({
      redis: 6390,
      postgres: 5440,
      vector: 8076,
      upstash: 8079,
      neon: 8078,
      control: 8077,
    });
    expect(portsFromEnv("test", { NEON_PORT: "9000" })).toStrictEqual({
      redis: 0,
      postgres: 0,
      vector: 0,
      upstash: 0,
      neon: 9000,
      control: 0,
    });
    expect(() => portsFromEnv("dev", { REDIS_PORT: "x" })).toThrow(/REDIS_PORT/);
  });
});

describe("command line", () => {
  it("reads --profile and --root with a separate or an inline value, the last one winning", () => {
    expect(parseCommandLine(["up", "--profile", "test"])).toStrictEqual({ command: "up", profile: "test" });
    expect(parseCommandLine(["up", "--profile=dev", "--root", "/r"])).toStrictEqual({ command: "up", profile: "dev", root: "/r" });
    expect(parseCommandLine(["up", "--profile=dev", "--profile", "test", "--root=/a=b"])).toStrictEqual({
      command: "up",
      profile: "test",
      root: "/a=b",
    });
    expect(parseCommandLine([])).toStrictEqual({ command: "", profile: "dev" });
  });

  it("refuses a profile other than dev or test, a flag without a value, and any other argument, naming it as typed", () => {
    expect(() => parseCommandLine(["up", "--profile", "prod"])).toThrow(/dev or test/);
    expect(() => parseCommandLine(["up", "--profile"])).toThrow(/^--profile needs a value\nusage: /);
    expect(() => parseCommandLine(["up", "--root"])).toThrow(/^--root needs a value\nusage: /);
    expect(() => parseCommandLine(["up", "--verbose=1"])).toThrow(/^unknown argument --verbose=1\nusage: /);
    expect(() => parseCommandLine(["up", "-p", "dev"])).toThrow(/^unknown argument -p\n/);
    expect(() => parseCommandLine(["up", "extra"])).toThrow(/^unknown argument extra\n/);
    expect(() => parseCommandLine(["up", "--", "--profile", "dev"])).toThrow(/^unknown argument --\n/);
  });
});
