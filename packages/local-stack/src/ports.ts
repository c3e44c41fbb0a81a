import net from "node:net";

/** The address every server and endpoint of the stack listens on. */
export const LOOPBACK = "127.0.0.1";

/** Binds port 0 on 127.0.0.1 and returns the port the kernel picked (the socket is closed again). */
export async function freePort(host: string = LOOPBACK): Promise<number> {
  const [port] = await freePorts(1, host);
  return port!;
}

/**
 * Picks `count` distinct free loopback ports: all listeners stay open until every port is known,
 * so the kernel cannot hand out the same port twice.
 */
export async function freePorts(count: number, host: string = LOOPBACK): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const server = net.createServer();
      servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once("error", reject);
        server.listen({ port: 0, host, exclusive: true }, () => resolve());
      });
      ports.push((server.address() as net.AddressInfo).port);
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

/** True when nothing listens on host:port (a bind succeeds). */
export async function isPortFree(port: number, host: string = LOOPBACK): Promise<boolean> {
  const server = net.createServer();
  return new Promise<boolean>((resolve) => {
    server.once("error", () => resolve(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * Fills in the ports that are missing or 0 with free loopback ports; configured ports are kept as given
 * (a clash is reported by the service that fails to bind, with its own message).
 */
export async function resolvePorts<K extends string>(
  names: readonly K[],
  requested: Partial<Record<K, number>> = {},
): Promise<Record<K, number>> {
  const missing = names.filter((n) => !requested[n]);
  const picked = await freePorts(missing.length);
  const taken = new Set(names.map((n) => requested[n]).filter((p): p is number => !!p));
  const out = {} as Record<K, number>;
  for (const n of names) {
    const want = requested[n];
    if (want) {
      out[n] = want;
      continue;
    }
    let p = picked.shift()!;
    // A configured port could coincide with a picked one; pick again in that rare case.
    while (taken.has(p)) p = await freePort();
    taken.add(p);
    out[n] = p;
  }
  return out;
}

/** Resolves when a TCP connect to host:port succeeds, false after `timeoutMs`. */
export async function canConnect(port: number, host: string = LOOPBACK, timeoutMs = 500): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const socket = net.connect({ port, host });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}
