import { describe, expect, it } from "vitest";
import {
  beginStatement,
  formatError,
  isLoopbackHost,
  NeonHttpError,
  parseAddress,
  parseNeonBody,
  parseNeonHeaders,
  poolConfigFor,
} from "./neon-protocol.ts";

describe("Neon request parsing", () => {
  it("reads every Neon-* header, and refuses a missing connection string or an unknown isolation level", () => {
    expect(
      parseNeonHeaders({
        "neon-connection-string": "postgresql://u:p@127.0.0.1:5432/db",
        "neon-raw-text-output": "true",
        "neon-array-mode": "true",
        "neon-batch-isolation-level": "Serializable",
        "neon-batch-read-only": "false",
        "neon-batch-deferrable": "true",
      }),
    ).toStrictEqual({
      connectionString: "postgresql://u:p@127.0.0.1:5432/db",
      rawTextOutput: true,
      arrayMode: true,
      isolationLevel: "Serializable",
      readOnly: false,
      deferrable: true,
    });
    expect(() => parseNeonHeaders({})).toThrow(/Neon-Connection-String/);
    expect(() => parseNeonHeaders({ "neon-connection-string": "x", "neon-batch-isolation-level": "Chaos" })).toThrow(/Isolation/);
  });

  it("parses single and batch bodies, defaulting params to [], and refuses invalid JSON or a non-string query", () => {
    expect(parseNeonBody('{"query":"select $1","params":["1"]}')).toStrictEqual({
      kind: "single",
      query: { query: "select $1", params: ["1"] },
    });
    expect(parseNeonBody('{"queries":[{"query":"select 1"}]}')).toStrictEqual({
      kind: "batch",
      queries: [{ query: "select 1", params: [] }],
    });
    expect(() => parseNeonBody("{")).toThrow(NeonHttpError);
    expect(() => parseNeonBody('{"query":1}')).toThrow(/string "query"/);
  });
});

describe("Neon loopback checks", () => {
  it("accepts only loopback hosts and addresses, and decodes a loopback connection string into pg settings", () => {
    for (const h of ["127.0.0.1", "127.5.6.7", "localhost", "::1", "[::1]", "::ffff:127.0.0.1"]) expect(isLoopbackHost(h), h).toBe(true);
    for (const h of ["10.0.0.1", "example.com", "0.0.0.0", "128.0.0.1", "127.0.0.1.nip.io"]) expect(isLoopbackHost(h), h).toBe(false);
    expect(parseAddress("127.0.0.1:5432")).toStrictEqual({ host: "127.0.0.1", port: 5432 });
    expect(parseAddress("[::1]:5432")).toStrictEqual({ host: "::1", port: 5432 });
    expect(() => parseAddress("nohost")).toThrow(/host:port/);
    expect(() => poolConfigFor("postgres://u:p@db.example.com/x")).toThrow(/loopback/);
    const cfg = poolConfigFor("postgresql://u%40x:p%2Fw@127.0.0.1:5440/foundation?application_name=app&sslmode=require");
    expect([cfg.user, cfg.password, cfg.database, cfg.port, cfg.ssl, cfg.application_name]).toStrictEqual([
      "u@x",
      "p/w",
      "foundation",
      5440,
      false,
      "app",
    ]);
  });
});

describe("Neon replies", () => {
  it("builds BEGIN with the batch options, keeps a Postgres error's fields, and reports connection failures as 08001", () => {
    expect(beginStatement({})).toBe("BEGIN");
    expect(beginStatement({ isolationLevel: "RepeatableRead", readOnly: true, deferrable: false })).toBe(
      "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY NOT DEFERRABLE",
    );
    const pgErr = Object.assign(new Error('relation "x" does not exist'), { code: "42P01", position: "15", severity: "ERROR" });
    expect(formatError(pgErr)).toStrictEqual({
      status: 400,
      body: { message: 'relation "x" does not exist', code: "42P01", position: "15", severity: "ERROR" },
    });
    const conn = formatError(Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" }));
    expect(conn.status).toBe(400);
    expect(conn.body.code).toBe("08001");
  });
});
