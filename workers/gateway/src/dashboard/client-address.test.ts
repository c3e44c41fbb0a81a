import { describe, expect, it } from "vitest";
import { clientGroup } from "./client-address.ts";

describe("clientGroup", () => {
  it("counts an IPv4 client by its address", () => {
    expect(clientGroup("198.51.100.7")).toBe("198.51.100.7");
    expect(clientGroup("::ffff:198.51.100.7")).toBe("198.51.100.7");
  });

  it("counts every address of one IPv6 /64 as one client, however it is written", () => {
    const group = "2001:db8:0:12::/64";
    expect(clientGroup("2001:db8:0:12::1")).toBe(group);
    expect(clientGroup("2001:0DB8:0000:0012:ffff:1:2:3")).toBe(group);
    expect(clientGroup("2001:db8:0:13::1")).toBe("2001:db8:0:13::/64");
    expect(clientGroup("::1")).toBe("0:0:0:0::/64");
  });

  it("puts requests without a valid address together", () => {
    expect(clientGroup(undefined)).toBe("unknown");
    expect(clientGroup("")).toBe("unknown");
    expect(clientGroup("not an address")).toBe("unknown");
  });
});
