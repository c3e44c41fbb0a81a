/**
 * SSE listeners for the live bench: plain `node:http` requests (one socket each) that count every event frame they
 * receive and, on the sampled ones, the publish → receive latency of each event from the `t` its data carries.
 */
import { readFileSync } from "node:fs";
import { request, type ClientRequest } from "node:http";

/** What one listener saw. */
export interface ListenerStats {
  events: number;
  lastId: string | null;
  /** Milliseconds from publish to receipt of each event (sampled listeners only). */
  latencies: number[];
}

/** An open listener. */
export interface Listener {
  stats: ListenerStats;
  close(): void;
}

const ID_LINE = /^id: (.+)$/gm;
const PUBLISHED_AT = /"t":(\d+)/g;
const ID_BYTES = Buffer.from("id: ");

/**
 * Opens an SSE connection to `url`; resolves once the server answered 200. `sample` listeners parse each event's
 * `t` for latency; the others only count ids, so a thousand of them cost the client little.
 */
export function openListener(url: URL, headers: Record<string, string>, sample: boolean): Promise<Listener> {
  const stats: ListenerStats = { events: 0, lastId: null, latencies: [] };
  return new Promise((resolve, reject) => {
    const req: ClientRequest = request(url, { headers: { accept: "text/event-stream", ...headers }, agent: false }, (res) => {
      if (res.statusCode !== 200) {
        reject(new Error(`live listener answered ${res.statusCode}`));
        res.resume();
        return;
      }
      // Counting ids in the raw bytes (a native search) keeps a thousand listeners cheap for this process; only the
      // sampled ones decode their frames. "id: " occurs only in id lines: the stored JSON has no space after a colon.
      let tail: Buffer = Buffer.alloc(0);
      let rest = "";
      res.on("data", (chunk: Buffer) => {
        const now = Date.now();
        if (!sample) {
          const seam = Buffer.concat([tail, chunk.subarray(0, ID_BYTES.length - 1)]);
          for (let i = seam.indexOf(ID_BYTES); i !== -1; i = seam.indexOf(ID_BYTES, i + 1)) stats.events++;
          for (let i = chunk.indexOf(ID_BYTES); i !== -1; i = chunk.indexOf(ID_BYTES, i + 1)) stats.events++;
          tail = chunk.subarray(Math.max(0, chunk.length - (ID_BYTES.length - 1)));
          return;
        }
        const text = rest + chunk.toString("utf8");
        const end = text.lastIndexOf("\n\n");
        if (end === -1) {
          rest = text;
          return;
        }
        const complete = text.slice(0, end);
        rest = text.slice(end + 2);
        for (const m of complete.matchAll(ID_LINE)) {
          stats.events++;
          stats.lastId = m[1] ?? null;
        }
        for (const m of complete.matchAll(PUBLISHED_AT)) stats.latencies.push(now - Number(m[1]));
      });
      res.on("error", () => undefined);
      resolve({ stats, close: () => req.destroy() });
    });
    req.on("error", reject);
    req.end();
  });
}

/** Resident memory (kB) of a process, from /proc. */
export function rssKb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) : 0;
}
