/**
 * The BullMQ peer's worker process (forked by bench/lib/job-bullmq.ts): a BullMQ `Worker` with a no-op processor on
 * the bench's redis-server, as a Node service would run one. It notes, in memory, when each job started and, for a
 * delayed job (its data holds `delayMs`), how late: started − (the job's timestamp + delayMs), the time BullMQ
 * computed it due. Every Redis command this process sends is counted (what Upstash would bill: a script is one).
 *
 * Driven over IPC: `{cmd: "start", queue, expect}` starts a worker on a queue and answers `started`, then `done` once
 * `expect` jobs have completed; `{cmd: "stop"}` closes it (answers `stopped`); `{cmd: "sent"}` answers the count of
 * commands sent so far.
 */
import { Worker, type Job } from "bullmq";
import { Redis } from "ioredis";
import type { PeerCommand, PeerReply } from "./job-bullmq.ts";

let sent = 0;
type SendCommand = typeof Redis.prototype.sendCommand;
// eslint-disable-next-line @typescript-eslint/unbound-method -- applied below with each connection as `this`
const sendCommand: SendCommand = Redis.prototype.sendCommand;
// Every connection of this process is BullMQ's own (it builds them from the options below, blocking one included).
Redis.prototype.sendCommand = function (this: Redis, ...args: Parameters<SendCommand>) {
  sent++;
  return sendCommand.apply(this, args);
};

const port = Number(process.env.BENCH_REDIS_PORT);
const reply = (message: PeerReply) => process.send?.(message);
let worker: Worker | undefined;

async function start(queue: string, expect: number, concurrency: number): Promise<void> {
  let completed = 0;
  const errors: number[] = [];
  worker = new Worker(
    queue,
    (job: Job<{ delayMs?: number }>) => {
      const now = Date.now();
      if (typeof job.data.delayMs === "number") errors.push(now - (job.timestamp + job.data.delayMs));
      return Promise.resolve();
    },
    { connection: { host: "127.0.0.1", port }, concurrency },
  );
  worker.on("error", (err) => reply({ type: "error", message: `BullMQ worker: ${err.message}` }));
  worker.on("failed", (job, err) => reply({ type: "error", message: `BullMQ job ${job?.id ?? "?"} failed: ${err.message}` }));
  worker.on("completed", () => {
    completed++;
    if (completed === expect) reply({ type: "done", lastAt: Date.now(), completed, sent, errors });
  });
  await worker.waitUntilReady();
  reply({ type: "started", sent });
}

process.on("message", (message: PeerCommand) => {
  const run = async () => {
    if (message.cmd === "start") await start(message.queue, message.expect, message.concurrency);
    else if (message.cmd === "stop") {
      await worker?.close();
      worker = undefined;
      reply({ type: "stopped", sent });
    } else if (message.cmd === "sent") reply({ type: "sent", sent });
  };
  run().catch((err: unknown) => reply({ type: "error", message: (err as Error).message }));
});
process.on("disconnect", () => {
  void (worker?.close() ?? Promise.resolve()).finally(() => process.exit(0));
});
reply({ type: "ready", sent });
