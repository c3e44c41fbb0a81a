import { describe, expect, it } from "vitest";
import { redisServerArgs } from "./redis-server.ts";

/** The value that follows `flag` on a command line. */
const valueOf = (args: string[], flag: string) => args[args.indexOf(flag) + 1];

describe("redis-server command line", () => {
  it("listens on the given port on loopback without snapshots, and sets --protected-mode and --daemonize", () => {
    const r = redisServerArgs(6390, "/d");
    expect(r.slice(0, 6)).toStrictEqual(["--port", "6390", "--bind", "127.0.0.1", "--save", ""]);
    expect(r).toContain("--protected-mode");
    expect(r).toContain("--daemonize");
  });

  it("keeps an append-only file in its folder only when asked to persist", () => {
    expect(valueOf(redisServerArgs(6390, "/d"), "--appendonly")).toBe("no");
    const persisted = redisServerArgs(6390, "/d", true);
    expect([valueOf(persisted, "--appendonly"), valueOf(persisted, "--dir")]).toEqual(["yes", "/d"]);
  });
});
