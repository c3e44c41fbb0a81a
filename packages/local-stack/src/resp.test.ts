import { describe, expect, it } from "vitest";
import { encodeCommands, RespError, RespParser, type RespValue } from "./resp.ts";
import { encodeReply } from "./upstash-protocol.ts";

const b = (s: string) => Buffer.from(s, "utf8");

describe("RESP", () => {
  it("encodes commands with lengths in bytes, not characters", () => {
    expect(encodeCommands([["SET", "k", "ü"]]).toString("utf8")).toBe("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2\r\nü\r\n");
  });

  it("parses every RESP2 reply type the same, whole or split at any byte boundary", () => {
    const wire = b(
      "+OK\r\n-ERR bad\r\n:42\r\n:-7\r\n$5\r\nhe\r\nl\r\n$-1\r\n*-1\r\n*3\r\n$1\r\na\r\n*2\r\n:1\r\n$-1\r\n+QUEUED\r\n$0\r\n\r\n",
    );
    const expected = (v: RespValue[]) => {
      expect(v.length).toBe(9);
      expect(String(v[0])).toBe("OK");
      expect(v[1]).toBeInstanceOf(RespError);
      expect((v[1] as RespError).message).toBe("ERR bad");
      expect(v[2]).toBe(42);
      expect(v[3]).toBe(-7);
      expect(String(v[4])).toBe("he\r\nl");
      expect(v[5]).toBe(null);
      expect(v[6]).toBe(null);
      expect(JSON.parse(JSON.stringify(encodeReply(v[7], false)))).toStrictEqual(["a", [1, null], "QUEUED"]);
      expect(String(v[8])).toBe("");
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

  it("throws on a RESP3 reply", () => {
    expect(() => new RespParser().push(b("%1\r\n+a\r\n+b\r\n"))).toThrow(/RESP3/);
  });
});
