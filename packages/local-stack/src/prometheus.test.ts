import { describe, expect, it } from "vitest";
import { PROMETHEUS_INSTALL_COMMAND, prometheusPlan } from "./prometheus.ts";

describe("Prometheus binaries", () => {
  it("uses the binaries found, installs them as root on Debian, and otherwise fails naming the apt-get command", () => {
    const both = { prometheus: "/usr/bin/prometheus", promtool: "/usr/bin/promtool" };
    expect(prometheusPlan(both, false)).toStrictEqual(both);
    expect(prometheusPlan({ prometheus: "/usr/bin/prometheus" }, true)).toBe("install");
    const failure = prometheusPlan({}, false);
    expect(failure).toBeInstanceOf(Error);
    expect((failure as Error).message).toBe(
      "prometheus and promtool are not installed; run: sudo apt-get install -y --no-install-recommends prometheus",
    );
    expect((failure as Error).message.endsWith(PROMETHEUS_INSTALL_COMMAND)).toBe(true);
  });
});
