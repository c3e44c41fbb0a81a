const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}$/;

/**
 * The group a client address is counted in: an IPv4 address itself, an IPv6 address its /64 (one host commonly holds
 * a whole /64, so counting single IPv6 addresses would let it open sockets without limit), `unknown` without one.
 * @example clientGroup("2001:db8:1:2:a:b:c:d") // "2001:db8:1:2::/64"
 */
export function clientGroup(ip: string | undefined | null): string {
  if (!ip) return "unknown";
  if (IPV4.test(ip)) return ip;
  let host: string;
  try {
    host = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  } catch {
    return "unknown";
  }
  const [head = "", tail = ""] = host.split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === "" ? [] : tail.split(":");
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right];
  if (groups.slice(0, 6).join(":") === "0:0:0:0:0:ffff") {
    const [hi = 0, lo = 0] = groups.slice(6).map((g) => parseInt(g, 16));
    return [hi >> 8, hi & 255, lo >> 8, lo & 255].join(".");
  }
  return `${groups.slice(0, 4).join(":")}::/64`;
}
