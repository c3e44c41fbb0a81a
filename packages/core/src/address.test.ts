import { describe, expect, it } from "vitest";
import { checkPublicUrl, hostRefusal, isLoopbackHost } from "./address.ts";

const production = { local: false };
const local = { local: true };

describe("checkPublicUrl (SSRF)", () => {
  it("accepts a public https base URL and returns it normalised", () => {
    expect(checkPublicUrl("https://Billing.Example.com/v1", production)).toEqual({ ok: true, url: "https://billing.example.com/v1" });
    expect(checkPublicUrl("https://93.184.216.34:8443/", production)).toMatchObject({ ok: true });
    expect(checkPublicUrl("https://[2606:4700:4700::1111]/", production)).toMatchObject({ ok: true });
  });

  it.each([
    ["plain http", "http://billing.example.com/"],
    ["the cloud metadata address", "https://169.254.169.254/latest/meta-data/"],
    ["loopback", "https://127.0.0.1/"],
    ["loopback written as one decimal number", "https://2130706433/"],
    ["loopback written in hex", "https://0x7f.1/"],
    ["loopback written in octal", "https://0177.0.0.1/"],
    ["IPv6 loopback", "https://[::1]/"],
    ["IPv4-mapped IPv6 loopback", "https://[::ffff:127.0.0.1]/"],
    ["IPv4-mapped metadata address", "https://[::ffff:169.254.169.254]/"],
    ["NAT64 of a private address", "https://[64:ff9b::a00:1]/"],
    ["AWS's IPv6 metadata address", "https://[fd00:ec2::254]/"],
    ["IPv6 link-local", "https://[fe80::1]/"],
    ["a 10/8 address", "https://10.1.2.3/"],
    ["a 172.16/12 address", "https://172.31.255.255/"],
    ["a 192.168/16 address", "https://192.168.0.10/"],
    ["carrier-grade NAT (Alibaba metadata)", "https://100.100.100.200/"],
    ["Azure's wire server", "https://168.63.129.16/"],
    ["the unspecified address", "https://0.0.0.0/"],
    ["localhost", "https://localhost/"],
    ["a name under localhost", "https://api.localhost/"],
    ["GCP's metadata name", "https://metadata.google.internal/"],
    ["a single-label name", "https://intranet/"],
    ["an mDNS name", "https://printer.local/"],
    ["credentials in the URL", "https://user:pw@billing.example.com/"],
    ["a query", "https://billing.example.com/?next=http://127.0.0.1"],
    ["a fragment", "https://billing.example.com/#x"],
    ["another scheme", "ftp://billing.example.com/"],
    ["a relative URL", "/internal"],
  ])("refuses %s in production mode", (_, url) => {
    expect(checkPublicUrl(url, production).ok).toBe(false);
  });

  it("accepts http and https on loopback in local mode only", () => {
    for (const url of ["http://127.0.0.1:8788/", "http://localhost:8788", "http://[::1]:9000/", "https://127.0.0.2/"]) {
      expect(checkPublicUrl(url, local).ok, url).toBe(true);
      expect(checkPublicUrl(url, production).ok, url).toBe(false);
    }
  });

  it("still refuses private, metadata and plain-http public addresses in local mode", () => {
    for (const url of ["http://169.254.169.254/", "https://10.0.0.1/", "http://billing.example.com/", "https://[::ffff:a00:1]/"]) {
      expect(checkPublicUrl(url, local).ok, url).toBe(false);
    }
  });

  it("names the reason of a refusal", () => {
    expect(checkPublicUrl("https://169.254.169.254/", production)).toEqual({
      ok: false,
      reason: "the host 169.254.169.254 is not a public address (link-local (cloud metadata))",
    });
  });

  it("refuses URLs longer than 2048 characters", () => {
    expect(checkPublicUrl(`https://billing.example.com/${"a".repeat(2048)}`, production).ok).toBe(false);
  });
});

describe("host classification", () => {
  it("knows the loopback hosts", () => {
    expect(["localhost", "a.localhost", "127.9.9.9", "[::1]", "localhost."].every(isLoopbackHost)).toBe(true);
    expect(["127example.com", "[::2]", "10.0.0.1", "example.com"].some(isLoopbackHost)).toBe(false);
  });

  it("refuses IPv6 documentation, 6to4 and Teredo prefixes but not global unicast", () => {
    expect(hostRefusal("[2001:db8::1]")).toBe("documentation");
    expect(hostRefusal("[2002:7f00:1::]")).toBe("6to4");
    expect(hostRefusal("[2001:0:4136:e378:8000:63bf:3fff:fdd2]")).toBe("IETF protocol assignments (Teredo)");
    expect(hostRefusal("[2a00:1450:4001:82a::200e]")).toBeUndefined();
  });
});
