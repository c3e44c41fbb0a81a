/**
 * The live bench's listeners, in a Node process of their own (forked by `ListenerPool` in live-listeners.ts): a
 * browser audience is never in the server's process, and here it must not share an event loop with the bench's
 * publisher and the local Upstash endpoint the fan-out object reads through, or the client's reading would show up
 * as server latency.
 *
 * Driven over IPC, one reply per command: `open` → `opened`; `drain` → `stats` once every listener has `total`
 * events or the timeout passed; `close` closes every listener → `closed`.
 */
import { openListener, type Listener, type PoolCommand, type PoolReply } from "./live-listeners.ts";

const listeners: Listener[] = [];
const reply = (message: PoolReply) => process.send?.(message);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function handle(message: PoolCommand): Promise<PoolReply> {
  if (message.cmd === "open") {
    const url = new URL(message.url);
    // In waves: a thousand handshakes at once would time some out for reasons of the client's making.
    for (let i = 0; i < message.count; i += 50) {
      const wave = Array.from({ length: Math.min(50, message.count - i) }, (_, j) => i + j);
      listeners.push(
        ...(await Promise.all(
          wave.map((n) =>
            openListener(
              url,
              { authorization: message.authorizations[Math.floor(n / message.perSubject)] ?? "" },
              n % message.sampleEvery === 0,
              message.mode,
            ),
          ),
        )),
      );
    }
    return { type: "opened", count: listeners.length };
  }
  if (message.cmd === "drain") {
    const deadline = Date.now() + message.timeoutMs;
    while (Date.now() < deadline && listeners.some((l) => l.stats.events < message.total)) await sleep(100);
    return {
      type: "stats",
      counts: listeners.map((l) => l.stats.events),
      latencies: listeners.flatMap((l) => l.stats.latencies),
      publishedAt: listeners.flatMap((l) => l.stats.publishedAt),
    };
  }
  for (const l of listeners.splice(0)) l.close();
  return { type: "closed" };
}

process.on("message", (message: PoolCommand) => {
  handle(message).then(reply, (err: unknown) => reply({ type: "error", message: (err as Error).message }));
});
process.on("disconnect", () => process.exit(0));
reply({ type: "ready" });
