/**
 * Rough throughput of the local Upstash endpoint for pipelined XADDs:
 *   npx tsx packages/local-stack/test/bench-upstash.ts [--clients 20] [--pipeline 100] [--seconds 5] [--client raw|upstash]
 * Starts a stack (profile test) in this process and drives it from a separate Node process (so the
 * load generator does not share the endpoint's event loop): `clients` concurrent loops, each sending
 * one POST /pipeline of `pipeline` XADD commands at a time (Upstash-Encoding: base64, as the client
 * does). `--client upstash` uses @upstash/redis `redis.pipeline()` instead of raw fetch.
 */
import { fork } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "@upstash/redis";

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
}

interface LoadResult {
  commands: number;
  requests: number;
  errors: number;
  seconds: number;
  p50: number;
  p99: number;
}

async function load(url: string, token: string): Promise<LoadResult> {
  const clients = Number(arg("clients", "20"));
  const size = Number(arg("pipeline", "100"));
  const seconds = Number(arg("seconds", "5"));
  const mode = arg("client", "raw");
  const value = "0123456789abcdef";
  const latencies: number[] = [];
  let commands = 0;
  let requests = 0;
  let errors = 0;
  const deadline = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      const stream = `bench:stream:${c % 4}`;
      const body = JSON.stringify(
        Array.from({ length: size }, () => ["XADD", stream, "MAXLEN", "~", "10000", "*", "type", "evt", "data", value]),
      );
      const redis = new Redis({ url, token, enableAutoPipelining: false });
      while (performance.now() < deadline) {
        const t = performance.now();
        try {
          if (mode === "upstash") {
            const p = redis.pipeline();
            for (let i = 0; i < size; i++)
              p.xadd(stream, "*", { type: "evt", data: value }, { trim: { type: "MAXLEN", threshold: 10000, comparison: "~" } });
            await p.exec();
          } else {
            const res = await fetch(`${url}/pipeline`, {
              method: "POST",
              headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "upstash-encoding": "base64" },
              body,
            });
            const out = (await res.json()) as { error?: string }[];
            if (!res.ok || out.some((r) => r.error)) throw new Error(`status ${res.status}`);
          }
          commands += size;
          requests++;
          latencies.push(performance.now() - t);
        } catch {
          errors++;
        }
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  return {
    commands,
    requests,
    errors,
    seconds: (performance.now() - t0) / 1000,
    p50: latencies[Math.floor(latencies.length * 0.5)] ?? 0,
    p99: latencies[Math.floor(latencies.length * 0.99)] ?? 0,
  };
}

async function main(): Promise<void> {
  if (process.env.BENCH_UPSTASH_URL) {
    const r = await load(process.env.BENCH_UPSTASH_URL, process.env.BENCH_UPSTASH_TOKEN!);
    process.send!(r);
    return;
  }
  const { startLocalStack } = await import("../src/index.ts");
  const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
  const stack = await startLocalStack({ root, profile: "test", log: () => {} });
  try {
    const child = fork(fileURLToPath(import.meta.url), process.argv.slice(2), {
      env: { ...process.env, BENCH_UPSTASH_URL: stack.upstash.url, BENCH_UPSTASH_TOKEN: stack.upstash.token },
      execArgv: ["--import", "tsx"],
    });
    let cpu0: NodeJS.CpuUsage | undefined;
    child.once("spawn", () => (cpu0 = process.cpuUsage()));
    const r = await new Promise<LoadResult>((res, rej) => {
      child.once("message", (m) => res(m as LoadResult));
      child.once("exit", (code) => rej(new Error(`load process exited ${code}`)));
    });
    const cpu = process.cpuUsage(cpu0);
    const st = stack.stats();
    const cpuPerCmd = (cpu.user + cpu.system) / Math.max(1, st.upstashCommands.XADD ?? 0);
    console.log(
      `clients=${arg("clients", "20")} pipeline=${arg("pipeline", "100")} client=${arg("client", "raw")}: ` +
        `${Math.round(r.commands / r.seconds).toLocaleString("en")} XADD/s, ${Math.round(r.requests / r.seconds)} req/s, ` +
        `p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, errors ${r.errors}; endpoint counted ${st.upstashCommands.XADD ?? 0} XADD, ` +
        `endpoint process CPU ${cpuPerCmd.toFixed(1)} µs/command (${(((cpu.user + cpu.system) / 1e6 / r.seconds) * 100).toFixed(0)}% of a core)`,
    );
  } finally {
    await stack.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
