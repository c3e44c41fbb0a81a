/**
 * Which instance URLs the registry accepts (SSRF rules, OWASP API7). Checked on the URL as the WHATWG parser
 * normalises it, so `http://2130706433/`, `http://0x7f.1/` and `http://[::ffff:127.0.0.1]/` are seen as the
 * loopback addresses they are. Host names are not resolved: Workers have no DNS API, so a public name that
 * resolves to a private address (DNS rebinding) passes here and must be refused again when the gateway connects.
 */

/** How strict the URL rules are: `local` (dev and tests) also accepts `http:` and `https:` on loopback. */
export interface UrlPolicy {
  local: boolean;
}

/** The outcome of {@link checkPublicUrl}: the normalised URL, or why it is refused. */
export type UrlCheck = { ok: true; url: string } | { ok: false; reason: string };

/** Longest instance URL accepted. */
export const MAX_URL_LENGTH = 2048;

type Range4 = readonly [base: number, bits: number, label: string];

const v4 = (a: number, b: number, c: number, d: number) => ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;

/** IPv4 ranges that are never a public instance (RFC 6890 special-purpose registry, plus cloud metadata). */
const BLOCKED_V4: readonly Range4[] = [
  [v4(0, 0, 0, 0), 8, "this-network"],
  [v4(10, 0, 0, 0), 8, "private"],
  [v4(100, 64, 0, 0), 10, "carrier-grade NAT"],
  [v4(127, 0, 0, 0), 8, "loopback"],
  [v4(169, 254, 0, 0), 16, "link-local (cloud metadata)"],
  [v4(172, 16, 0, 0), 12, "private"],
  [v4(192, 0, 0, 0), 24, "IETF protocol assignments"],
  [v4(192, 0, 2, 0), 24, "documentation"],
  [v4(192, 88, 99, 0), 24, "6to4 relay"],
  [v4(192, 168, 0, 0), 16, "private"],
  [v4(198, 18, 0, 0), 15, "benchmarking"],
  [v4(198, 51, 100, 0), 24, "documentation"],
  [v4(203, 0, 113, 0), 24, "documentation"],
  [v4(224, 0, 0, 0), 4, "multicast"],
  [v4(240, 0, 0, 0), 4, "reserved"],
  [v4(168, 63, 129, 16), 32, "cloud metadata"],
];

/** Host-name suffixes that only resolve inside a private network (RFC 6761, RFC 6762, RFC 8375, cloud metadata names). */
const PRIVATE_SUFFIXES = [".local", ".internal", ".localdomain", ".home.arpa", ".arpa", ".lan", ".intranet", ".corp"];

function inRange4(addr: number, [base, bits]: Range4): boolean {
  if (bits === 0) return true;
  const mask = bits === 32 ? 0xffffffff : (~0 << (32 - bits)) >>> 0;
  return (addr & mask) >>> 0 === (base & mask) >>> 0;
}

function parseV4(host: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  const [a = 0, b = 0, c = 0, d = 0] = parts;
  return v4(a, b, c, d);
}

/** The eight 16-bit groups of an IPv6 address in the URL serialiser's form (hex groups, at most one `::`). */
function parseV6(host: string): number[] | undefined {
  const halves = host.split("::");
  if (halves.length > 2) return undefined;
  const groups = (s: string | undefined) => (s ? s.split(":").map((g) => (/^[0-9a-f]{1,4}$/.test(g) ? parseInt(g, 16) : Number.NaN)) : []);
  const head = groups(halves[0]);
  const tail = groups(halves[1]);
  const fill = 8 - head.length - tail.length;
  if (halves.length === 1 ? fill !== 0 : fill < 1) return undefined;
  const all = [...head, ...Array<number>(Math.max(fill, 0)).fill(0), ...tail];
  return all.some(Number.isNaN) ? undefined : all;
}

function v4Refusal(addr: number): string | undefined {
  return BLOCKED_V4.find((r) => inRange4(addr, r))?.[2];
}

/** Why an IPv6 address cannot be a public instance, or undefined when it is global unicast. */
function v6Refusal(g: readonly number[]): string | undefined {
  const [g0 = 0, g1 = 0] = g;
  if (g.every((x) => x === 0)) return "unspecified";
  if (g.slice(0, 7).every((x) => x === 0) && g[7] === 1) return "loopback";
  // Only global unicast (2000::/3) can be a public host; this also refuses IPv4-mapped (::ffff:0:0/96) and
  // IPv4-compatible forms, NAT64 (64:ff9b::/96), unique-local (fc00::/7, e.g. AWS's fd00:ec2::254),
  // link-local (fe80::/10), site-local and multicast.
  if ((g0 & 0xe000) !== 0x2000) return "not global unicast";
  if (g0 === 0x2001 && g1 < 0x0200) return "IETF protocol assignments (Teredo)";
  if (g0 === 0x2001 && g1 === 0x0db8) return "documentation";
  if (g0 === 0x2002) return "6to4";
  if ((g0 & 0xfff0) === 0x3ff0) return "documentation";
  return undefined;
}

/** True for the loopback host names and addresses: `localhost`, `*.localhost`, 127.0.0.0/8 and `[::1]`. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/\.$/, "");
  if (host === "localhost" || host.endsWith(".localhost")) return true;
  const addr = parseV4(host);
  if (addr !== undefined) return addr >>> 24 === 127;
  if (host.startsWith("[")) {
    const g = parseV6(host.slice(1, -1));
    return g !== undefined && g.slice(0, 7).every((x) => x === 0) && g[7] === 1;
  }
  return false;
}

/** Why `hostname` (as `URL.hostname` gives it) cannot be a public instance, or undefined when it can. */
export function hostRefusal(hostname: string): string | undefined {
  const host = hostname.replace(/\.$/, "");
  if (host.startsWith("[")) {
    const g = parseV6(host.slice(1, -1));
    return g === undefined ? "not an IPv6 address" : v6Refusal(g);
  }
  const addr = parseV4(host);
  if (addr !== undefined) return v4Refusal(addr);
  if (host === "localhost" || host.endsWith(".localhost")) return "loopback";
  if (!host.includes(".")) return "a single-label name only resolves inside a private network";
  const suffix = PRIVATE_SUFFIXES.find((s) => host.endsWith(s));
  return suffix ? `names under ${suffix} only resolve inside a private network` : undefined;
}

/**
 * Accepts an instance URL when it is an absolute `https:` base URL (no credentials, query or fragment) on a
 * public host; in local mode `http:` and `https:` on loopback are accepted as well. Returns the normalised URL.
 * @example checkPublicUrl("https://billing.example.com/v1", { local: false }) // { ok: true, url: "https://billing.example.com/v1" }
 * @example checkPublicUrl("http://169.254.169.254/", { local: false }).ok // false
 */
export function checkPublicUrl(raw: string, policy: UrlPolicy): UrlCheck {
  if (raw.length > MAX_URL_LENGTH) return { ok: false, reason: `URLs are limited to ${MAX_URL_LENGTH} characters` };
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return { ok: false, reason: "not an absolute URL" };
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return { ok: false, reason: "the scheme must be https" };
  if (url.username || url.password) return { ok: false, reason: "URLs must not carry credentials" };
  if (url.search || url.hash || raw.includes("#")) return { ok: false, reason: "URLs must not have a query or a fragment" };
  const loopback = isLoopbackHost(url.hostname);
  if (policy.local && loopback) return { ok: true, url: url.href };
  if (url.protocol !== "https:") return { ok: false, reason: "the scheme must be https" };
  const refusal = hostRefusal(url.hostname);
  if (refusal) return { ok: false, reason: `the host ${url.hostname} is not a public address (${refusal})` };
  return { ok: true, url: url.href };
}
