import { describe, expect, it } from "vitest";
import { redisServerArgs } from "./redis-server.ts";

describe("redis-server command line", () => {
  it("listens on the given port on loopback without snapshots, and sets --protected-mode and --daemonize", () => {
    const r = redisServerArgs(6390, "/d");
    expect(r.slice(0, 6)).toStrictEqual(["--port", "6390", "--bind", "127.0.0.1", "--save", ""]);
    expect(r).toContain("--protected-mode");
    expect(r).toContain("--daemonize");
  });
});
