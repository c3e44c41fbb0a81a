/**
 * Unit tests of the pure protocol helpers (no servers): npx tsx packages/local-stack/test/unit.ts
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parsePostgresVersion, parseRedisVersion } from "../src/binaries.ts";
import {
  beginStatement,
  formatError,
  isLoopbackHost,
  parseAddress,
  parseNeonBody,
  parseNeonHeaders,
  poolConfigFor,
  NeonHttpError,
} from "../src/neon-endpoint.ts";
import { postgresArgs, postgresSettings } from "../src/postgres.ts";
import { CHROMIUM_INSTALL_COMMAND, chromiumPlan } from "../src/chromium.ts";
import { PROMETHEUS_INSTALL_COMMAND, prometheusPlan } from "../src/prometheus.ts";
import { redisServerArgs } from "../src/redis-server.ts";
import { encodeCommands, RespError, RespParser, type RespValue } from "../src/resp.ts";
import { encodeReply, parsePathCommand, rejectCommand, requestToken, toRedisArgs } from "../src/upstash-endpoint.ts";
import { parseArgs, portsFromEnv } from "../src/cli.ts";

const b = (s: string) => Buffer.from(s, "utf8");

void describe("Upstash protocol helpers", () => {
  void it("converts JSON arguments to Redis strings and upper-cases the command", () => {
    assert.deepEqual(toRedisArgs(["set", "k", 1, true, false, 1.5, { a: 1 }]), ["SET", "k", "1", "true", "false", "1.5", '{"a":1}']);
    assert.throws(() => toRedisArgs([]), /non-empty/);
    assert.throws(() => toRedisArgs("GET"), /non-empty/);
    assert.throws(() => toRedisArgs(["GET", null]), /null/);
  });

  void it("encodes replies with and without base64, recursively", () => {
    const reply = [b("PONG"), 3, null, [b("aGVsbG8="), b("")], new RespError("ERR x")];
    assert.deepEqual(encodeReply(reply, true), ["UE9ORw==", 3, null, ["YUdWc2JHOD0=", ""], "RVJSIHg="]);
    assert.deepEqual(encodeReply(reply, false), ["PONG", 3, null, ["aGVsbG8=", ""], "ERR x"]);
    assert.equal(encodeReply(Buffer.from([0xff, 0x00]), true), "/wA=");
    assert.equal(encodeReply(b("OK"), true), "T0s=");
  });

  void it("rejects blocking and connection-state commands", () => {
    for (const cmd of [["BLPOP", "q", "0"], ["SUBSCRIBE", "c"], ["MONITOR"], ["SELECT", "1"], ["MULTI"], ["WATCH", "k"], ["HELLO", "3"]]) {
      assert.match(rejectCommand(cmd) ?? "", /not available/, cmd[0]);
    }
    assert.match(rejectCommand(["XREADGROUP", "GROUP", "g", "c", "BLOCK", "10", "STREAMS", "s", ">"]) ?? "", /BLOCK/);
    assert.match(rejectCommand(["XREAD", "block", "0", "STREAMS", "s", "$"]) ?? "", /BLOCK/);
    assert.equal(rejectCommand(["XREADGROUP", "GROUP", "g", "c", "COUNT", "10", "STREAMS", "block", ">"]), null);
    assert.equal(rejectCommand(["CLIENT", "ID"]), null);
    assert.match(rejectCommand(["CLIENT", "REPLY", "OFF"]) ?? "", /not available/);
    assert.equal(rejectCommand(["GET", "k"]), null);
  });

  void it("parses path-style commands and tokens", () => {
    assert.deepEqual(parsePathCommand("/set/a%2Fb/hello%20world", new URLSearchParams("EX=10&_token=t"), undefined), [
      "set",
      "a/b",
      "hello world",
      "EX",
      "10",
    ]);
    assert.deepEqual(parsePathCommand("/set/k", new URLSearchParams(), "body value"), ["set", "k", "body value"]);
    assert.equal(parsePathCommand("/", new URLSearchParams(), undefined), null);
    assert.equal(requestToken("Bearer abc", new URLSearchParams()), "abc");
    assert.equal(requestToken(undefined, new URLSearchParams("_token=q")), "q");
    assert.equal(requestToken("Basic abc", new URLSearchParams()), undefined);
  });
});

void describe("RESP", () => {
  void it("encodes commands with byte lengths", () => {
    assert.equal(encodeCommands([["SET", "k", "ü"]]).toString("utf8"), "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nü\r\n");
  });

  void it("parses every reply type, split at every byte boundary", () => {
    const wire = b(
      "+OK\r\n-ERR bad\r\n:42\r\n:-7\r\n$5\r\nhe\r\nl\r\n$-1\r\n*-1\r\n*3\r\n$1\r\na\r\n*2\r\n:1\r\n$-1\r\n+QUEUED\r\n$0\r\n\r\n",
    );
    const expected = (v: RespValue[]) => {
      assert.equal(v.length, 9);
      assert.equal(String(v[0]), "OK");
      assert.ok(v[1] instanceof RespError && v[1].message === "ERR bad");
      assert.equal(v[2], 42);
      assert.equal(v[3], -7);
      assert.equal(String(v[4]), "he\r\nl");
      assert.equal(v[5], null);
      assert.equal(v[6], null);
      assert.deepEqual(JSON.parse(JSON.stringify(encodeReply(v[7], false))), ["a", [1, null], "QUEUED"]);
      assert.equal(String(v[8]), "");
    };
    expected(new RespParser().push(wire));
    for (let cut = 1; cut < wire.length; cut++) {
      const p = new RespParser();
      expected([...p.push(wire.subarray(0, cut)), ...p.push(wire.subarray(cut))]);
    }
    const p = new RespParser();
    const out: RespValue[] = [];
    for (const byte of wire) out.push(...p.push(Buffer.from([byte])));
    expected(out);
  });

  void it("rejects RESP3 replies", () => {
    assert.throws(() => new RespParser().push(b("%1\r\n+a\r\n+b\r\n")), /RESP3/);
  });
});

void describe("Neon protocol helpers", () => {
  void it("reads the Neon-* headers", () => {
    assert.deepEqual(
      parseNeonHeaders({
        "neon-connection-string": "postgresql://u:p@127.0.0.1:5432/db",
        "neon-raw-text-output": "true",
        "neon-array-mode": "true",
        "neon-batch-isolation-level": "Serializable",
        "neon-batch-read-only": "false",
        "neon-batch-deferrable": "true",
      }),
      {
        connectionString: "postgresql://u:p@127.0.0.1:5432/db",
        rawTextOutput: true,
        arrayMode: true,
        isolationLevel: "Serializable",
        readOnly: false,
        deferrable: true,
      },
    );
    assert.throws(() => parseNeonHeaders({}), /Neon-Connection-String/);
    assert.throws(() => parseNeonHeaders({ "neon-connection-string": "x", "neon-batch-isolation-level": "Chaos" }), /Isolation/);
  });

  void it("parses single and batch bodies", () => {
    assert.deepEqual(parseNeonBody('{"query":"select $1","params":["1"]}'), {
      kind: "single",
      query: { query: "select $1", params: ["1"] },
    });
    assert.deepEqual(parseNeonBody('{"queries":[{"query":"select 1"}]}'), { kind: "batch", queries: [{ query: "select 1", params: [] }] });
    assert.throws(() => parseNeonBody("{"), NeonHttpError);
    assert.throws(() => parseNeonBody('{"query":1}'), /string "query"/);
  });

  void it("only accepts loopback hosts", () => {
    for (const h of ["127.0.0.1", "127.5.6.7", "localhost", "::1", "[::1]", "::ffff:127.0.0.1"]) assert.ok(isLoopbackHost(h), h);
    for (const h of ["10.0.0.1", "example.com", "0.0.0.0", "128.0.0.1", "127.0.0.1.nip.io"]) assert.ok(!isLoopbackHost(h), h);
    assert.deepEqual(parseAddress("127.0.0.1:5432"), { host: "127.0.0.1", port: 5432 });
    assert.deepEqual(parseAddress("[::1]:5432"), { host: "::1", port: 5432 });
    assert.throws(() => parseAddress("nohost"), /host:port/);
    assert.throws(() => poolConfigFor("postgres://u:p@db.example.com/x"), /loopback/);
    const cfg = poolConfigFor("postgresql://u%40x:p%2Fw@127.0.0.1:5440/foundation?application_name=app&sslmode=require");
    assert.deepEqual(
      [cfg.user, cfg.password, cfg.database, cfg.port, cfg.ssl, cfg.application_name],
      ["u@x", "p/w", "foundation", 5440, false, "app"],
    );
  });

  void it("builds BEGIN and error replies", () => {
    assert.equal(beginStatement({}), "BEGIN");
    assert.equal(
      beginStatement({ isolationLevel: "RepeatableRead", readOnly: true, deferrable: false }),
      "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY NOT DEFERRABLE",
    );
    const pgErr = Object.assign(new Error('relation "x" does not exist'), { code: "42P01", position: "15", severity: "ERROR" });
    assert.deepEqual(formatError(pgErr), {
      status: 400,
      body: { message: 'relation "x" does not exist', code: "42P01", position: "15", severity: "ERROR" },
    });
    const conn = formatError(Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" }));
    assert.equal(conn.status, 400);
    assert.equal(conn.body.code, "08001");
  });
});

void describe("server arguments and CLI", () => {
  void it("redis-server and postgres command lines", () => {
    const r = redisServerArgs(6390, "/d");
    assert.deepEqual(r.slice(0, 6), ["--port", "6390", "--bind", "127.0.0.1", "--save", ""]);
    assert.ok(r.includes("--protected-mode") && r.includes("--daemonize"));
    const t = postgresSettings(5440, "/s", "test");
    assert.equal(t.fsync, "off");
    assert.equal(postgresSettings(5440, "/s", "dev").fsync, undefined);
    assert.deepEqual(postgresArgs("/pg", { port: "1" }), ["-D", "/pg", "-c", "port=1"]);
    assert.equal(parseRedisVersion("Redis server v=7.0.15 sha=00000000:0 malloc=jemalloc-5.3.0"), "7.0.15");
    assert.equal(parsePostgresVersion("postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"), "15.18");
  });

  void it("ports from env and arguments", () => {
    assert.deepEqual(portsFromEnv("dev", {}), { redis: 6390, postgres: 5440, upstash: 8079, neon: 8078, control: 8077 });
    assert.deepEqual(portsFromEnv("test", { NEON_PORT: "9000" }), { redis: 0, postgres: 0, upstash: 0, neon: 9000, control: 0 });
    assert.throws(() => portsFromEnv("dev", { REDIS_PORT: "x" }), /REDIS_PORT/);
    assert.deepEqual(parseArgs(["up", "--profile", "test"]), { command: "up", profile: "test" });
    assert.deepEqual(parseArgs(["up", "--profile=dev", "--root", "/r"]), { command: "up", profile: "dev", root: "/r" });
    assert.throws(() => parseArgs(["up", "--profile", "prod"]), /dev or test/);
  });
});

void describe("Prometheus binaries", () => {
  void it("uses the binaries found, installs them as root on Debian, and otherwise fails naming the apt-get command", () => {
    const both = { prometheus: "/usr/bin/prometheus", promtool: "/usr/bin/promtool" };
    assert.deepEqual(prometheusPlan(both, false), both);
    assert.equal(prometheusPlan({ prometheus: "/usr/bin/prometheus" }, true), "install");
    const failure = prometheusPlan({}, false);
    assert.ok(failure instanceof Error);
    assert.equal(
      failure.message,
      "prometheus and promtool are not installed; run: sudo apt-get install -y --no-install-recommends prometheus",
    );
    assert.ok(failure.message.endsWith(PROMETHEUS_INSTALL_COMMAND));
  });
});

void describe("Chromium for the browser tests", () => {
  void it("uses the browser found, installs it as root on Debian, and otherwise fails naming the apt-get command", () => {
    assert.deepEqual(chromiumPlan("/usr/bin/chromium", false), { path: "/usr/bin/chromium" });
    assert.equal(chromiumPlan(undefined, true), "install");
    const failure = chromiumPlan(undefined, false);
    assert.ok(failure instanceof Error);
    assert.equal(failure.message, "chromium is not installed; run: sudo apt-get install -y --no-install-recommends chromium");
    assert.ok(failure.message.endsWith(CHROMIUM_INSTALL_COMMAND));
  });
});
