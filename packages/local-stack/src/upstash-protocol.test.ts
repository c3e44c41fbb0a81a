import { describe, expect, it } from "vitest";
import { RespError } from "./resp.ts";
import { encodeReply, parseCommands, parsePathCommand, rejectCommand, requestToken, toRedisArgs } from "./upstash-protocol.ts";

const b = (s: string) => Buffer.from(s, "utf8");

describe("Upstash request parsing", () => {
  it("converts JSON arguments to Redis strings and upper-cases the command; refuses empty commands and null", () => {
    expect(toRedisArgs(["set", "k", 1, true, false, 1.5, { a: 1 }])).toStrictEqual(["SET", "k", "1", "true", "false", "1.5", '{"a":1}']);
    expect(() => toRedisArgs([])).toThrow(/non-empty/);
    expect(() => toRedisArgs("GET")).toThrow(/non-empty/);
    expect(() => toRedisArgs(["GET", null])).toThrow(/null/);
  });

  it("parses a pipeline body into command arrays; refuses invalid JSON and an empty array", () => {
    expect(parseCommands('[["set","k",1],["get","k"]]', "pipeline")).toStrictEqual([
      ["SET", "k", "1"],
      ["GET", "k"],
    ]);
    expect(() => parseCommands("[", "pipeline")).toThrow(/parse request body/);
    expect(() => parseCommands("[]", "multi-exec")).toThrow(/multi-exec body must be a non-empty JSON array/);
  });

  it("parses path-style commands with their query parameters and body, and reads the token from the header or ?_token", () => {
    expect(parsePathCommand("/set/a%2Fb/hello%20world", new URLSearchParams("EX=10&_token=t"), undefined)).toStrictEqual([
      "set",
      "a/b",
      "hello world",
      "EX",
      "10",
    ]);
    expect(parsePathCommand("/set/k", new URLSearchParams(), "body value")).toStrictEqual(["set", "k", "body value"]);
    expect(parsePathCommand("/", new URLSearchParams(), undefined)).toBe(null);
    expect(requestToken("Bearer abc", new URLSearchParams())).toBe("abc");
    expect(requestToken(undefined, new URLSearchParams("_token=q"))).toBe("q");
    expect(requestToken("Basic abc", new URLSearchParams())).toBe(undefined);
  });
});

describe("Upstash command refusal", () => {
  it("refuses blocking and connection-state commands, and XREAD/XREADGROUP only with BLOCK before STREAMS", () => {
    for (const cmd of [["BLPOP", "q", "0"], ["SUBSCRIBE", "c"], ["MONITOR"], ["SELECT", "1"], ["MULTI"], ["WATCH", "k"], ["HELLO", "3"]]) {
      expect(rejectCommand(cmd), cmd[0]).toMatch(/not available/);
    }
    expect(rejectCommand(["XREADGROUP", "GROUP", "g", "c", "BLOCK", "10", "STREAMS", "s", ">"])).toMatch(/BLOCK/);
    expect(rejectCommand(["XREAD", "block", "0", "STREAMS", "s", "$"])).toMatch(/BLOCK/);
    expect(rejectCommand(["XREADGROUP", "GROUP", "g", "c", "COUNT", "10", "STREAMS", "block", ">"])).toBe(null);
    expect(rejectCommand(["CLIENT", "ID"])).toBe(null);
    expect(rejectCommand(["CLIENT", "REPLY", "OFF"])).toMatch(/not available/);
    expect(rejectCommand(["GET", "k"])).toBe(null);
  });
});

describe("Upstash reply encoding", () => {
  it("encodes every string of a reply, nested ones and errors included, as base64 or as UTF-8 text", () => {
    const reply = [b("PONG"), 3, null, [b("aGVsbG8="), b("")], new RespError("ERR x")];
    expect(encodeReply(reply, true)).toStrictEqual(["UE9ORw==", 3, null, ["YUdWc2JHOD0=", ""], "RVJSIHg="]);
    expect(encodeReply(reply, false)).toStrictEqual(["PONG", 3, null, ["aGVsbG8=", ""], "ERR x"]);
    expect(encodeReply(Buffer.from([0xff, 0x00]), true)).toBe("/wA=");
    expect(encodeReply(b("OK"), true)).toBe("T0s=");
  });
});
