import { describe, expect, it } from "vitest";
import { parsePostgresVersion, parseRedisVersion } from "./binaries.ts";

describe("server versions", () => {
  it("reads the version from redis-server --version and postgres --version", () => {
    expect(parseRedisVersion("Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0")).toBe("7.0.15");
    expect(parsePostgresVersion("postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)")).toBe("15.18");
  });
});
