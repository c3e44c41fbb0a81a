import { describe, expect, it } from "vitest";
import { CHROMIUM_INSTALL_COMMAND, chromiumPlan } from "./chromium.ts";

describe("Chromium for the browser tests", () => {
  it("uses the browser found, installs it as root on Debian, and otherwise fails naming the apt-get command", () => {
    expect(chromiumPlan("/usr/bin/chromium", false)).toStrictEqual({ path: "/usr/bin/chromium" });
    expect(chromiumPlan(undefined, true)).toBe("install");
    const failure = chromiumPlan(undefined, false);
    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).message).toBe("chromium is not installed; run: sudo apt-get install -y --no-install-recommends chromium");
    expect((failure as Error).message.endsWith(CHROMIUM_INSTALL_COMMAND)).toBe(true);
  });
});
