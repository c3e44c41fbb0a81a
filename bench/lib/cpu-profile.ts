/**
 * CPU profiles of a worker inside workerd, over the V8 inspector (Chrome DevTools Protocol, `Profiler` domain),
 * summarised as the frames that took the most samples.
 */
import { WebSocket } from "ws";

/** A V8 CPU profile as `Profiler.stop` returns it (the `.cpuprofile` format Chrome DevTools opens). */
export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number }; children?: number[] }[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** One frame of a profile summary. */
export interface ProfileFrame {
  /** `function (file:line)`, or V8's own `(garbage collector)`, `(program)`, `(idle)`. */
  frame: string;
  /** Share of the non-idle samples spent in the frame itself. */
  selfShare: number;
  /** Share of the non-idle samples with the frame anywhere on the stack. */
  totalShare: number;
}

/** A running profile of one worker; `stop()` ends it and returns the profile. */
export interface Profiling {
  stop(): Promise<CpuProfile>;
}

/**
 * Starts sampling `worker` (its Miniflare name) in the workerd whose inspector is at `inspector`, every
 * `intervalUs` microseconds.
 * @example const p = await startProfile(served.inspectorUrl, "gateway"); await load(); summarise(await p.stop());
 */
export async function startProfile(inspector: URL, worker: string, intervalUs = 200): Promise<Profiling> {
  const ws = new WebSocket(new URL(`/core:user:${worker}`, inspector).href);
  await new Promise<void>((ok, fail) => {
    ws.once("open", () => ok());
    ws.once("error", fail);
  });
  let nextId = 1;
  const pending = new Map<number, { ok: (r: unknown) => void; fail: (e: Error) => void }>();
  ws.on("message", (data: Buffer) => {
    const msg = JSON.parse(data.toString("utf8")) as { id?: number; result?: unknown; error?: { message: string } };
    const waiter = msg.id === undefined ? undefined : pending.get(msg.id);
    if (!waiter || msg.id === undefined) return;
    pending.delete(msg.id);
    if (msg.error) waiter.fail(new Error(`inspector: ${msg.error.message}`));
    else waiter.ok(msg.result);
  });
  const send = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<unknown>((ok, fail) => {
      const id = nextId++;
      pending.set(id, { ok, fail });
      ws.send(JSON.stringify({ id, method, params }));
    });
  await send("Profiler.enable");
  await send("Profiler.setSamplingInterval", { interval: intervalUs });
  await send("Profiler.start");
  return {
    async stop() {
      try {
        const { profile } = (await send("Profiler.stop")) as { profile: CpuProfile };
        return profile;
      } finally {
        ws.close();
      }
    },
  };
}

const frameName = (f: CpuProfile["nodes"][number]["callFrame"]) => {
  const file = f.url.split("/").pop() ?? "";
  const name = f.functionName || "(anonymous)";
  return file ? `${name} (${file}:${f.lineNumber + 1})` : name;
};

/**
 * The `top` frames of a profile by self time, with their inclusive share too; idle samples are left out, so the
 * shares are of the time the isolate was busy.
 * @example for (const f of summarise(profile, 15)) console.log(f.frame, f.selfShare);
 */
export function summarise(profile: CpuProfile, top = 20): ProfileFrame[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  let busy = 0;
  for (const id of profile.samples) {
    const node = byId.get(id);
    if (!node || node.callFrame.functionName === "(idle)") continue;
    busy++;
    const name = frameName(node.callFrame);
    self.set(name, (self.get(name) ?? 0) + 1);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const n = byId.get(at);
      if (!n || n.callFrame.functionName === "(root)") continue;
      const f = frameName(n.callFrame);
      if (seen.has(f)) continue;
      seen.add(f);
      total.set(f, (total.get(f) ?? 0) + 1);
    }
  }
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([frame, n]) => ({ frame, selfShare: n / Math.max(1, busy), totalShare: (total.get(frame) ?? 0) / Math.max(1, busy) }));
}
