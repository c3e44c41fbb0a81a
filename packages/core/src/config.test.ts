import { describe, expect, it } from "vitest";
import { z } from "zod";
import { ConfigError, configReader, intVar, jsonVar, optionalVar, parsedVar, parseVars } from "./config.ts";

const Vars = z.object({
  RULES: jsonVar(z.array(z.object({ path: z.string().startsWith("/") }))).default([]),
  SHARDS: optionalVar(intVar(1, 64)),
  ENDPOINT: optionalVar(z.url()),
});

describe("parseVars", () => {
  it("parses JSON vars and numbers, and treats empty vars as unset", () => {
    expect(parseVars(Vars, { RULES: '[{"path":"/a"}]', SHARDS: "4", ENDPOINT: "" })).toEqual({ RULES: [{ path: "/a" }], SHARDS: 4 });
    expect(parseVars(Vars, {})).toEqual({ RULES: [] });
  });

  it("names the variable and the place inside its JSON that is wrong", () => {
    expect(() => parseVars(Vars, { RULES: '[{"path":"a"}]' })).toThrow(/RULES at 0\.path: /);
    expect(() => parseVars(Vars, { SHARDS: "65" })).toThrow(/SHARDS: /);
  });

  it("reports text that is not JSON as a problem of its variable", () => {
    const err = (() => {
      try {
        parseVars(Vars, { RULES: "[{" });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems).toEqual([expect.stringMatching(/^RULES: not valid JSON/)]);
  });

  it("lists every variable at fault at once", () => {
    expect(() => parseVars(Vars, { RULES: "{}", SHARDS: "x", ENDPOINT: "nope" })).toThrow(/RULES.*SHARDS.*ENDPOINT/);
  });
});

describe("parsedVar", () => {
  const parseLimit = (text: string | undefined) => {
    if (text !== undefined && !/^\d+$/.test(text)) throw new Error(`LIMIT is invalid: "${text}" is not a number`);
    return Number(text ?? 10);
  };
  const Limits = z.object({ LIMIT: parsedVar(parseLimit) });

  it("runs a var's own parser, which defaults an unset var", () => {
    expect(parseVars(Limits, { LIMIT: "3" })).toEqual({ LIMIT: 3 });
    expect(parseVars(Limits, {})).toEqual({ LIMIT: 10 });
  });

  it("keeps the parser's message, which names the variable already", () => {
    expect(() => parseVars(Limits, { LIMIT: "many" })).toThrow(new ConfigError(['LIMIT is invalid: "many" is not a number']));
  });
});

describe("configReader", () => {
  it("parses an env once and builds its config once", () => {
    let builds = 0;
    const read = configReader(Vars, (vars) => ({ rules: vars.RULES, n: ++builds }));
    const env = { RULES: '[{"path":"/x"}]' };
    expect(read(env)).toBe(read(env));
    expect(builds).toBe(1);
    expect(read({}).n).toBe(2);
  });

  it("does not cache a failure: a broken env fails every time it is read", () => {
    const read = configReader(Vars, (vars) => vars);
    const env = { SHARDS: "0" };
    expect(() => read(env)).toThrow(ConfigError);
    expect(() => read(env)).toThrow(ConfigError);
  });
});
