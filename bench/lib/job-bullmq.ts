/**
 * The jobs bench's peer: BullMQ on the same redis-server. The producer (a `Queue`) runs in the bench process, the
 * `Worker` in a Node process of its own (bench/lib/bullmq-worker.ts), as a service and its workers would be deployed;
 * Foundation's producer is the bench process too, and its queue runs in workerd. Both processes count the Redis
 * commands they send.
 */
import { fork, type ChildProcess } from "node:child_process";
import { resolve } from "node:path";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import type { BenchContext } from "./context.ts";
import {
  BATCH,
  CONCURRENCY,
  delayedRun,
  delays,
  DELAYED,
  JOBS,
  SPREAD_MS,
  sleep,
  type DelayedRun,
  type ThroughputRun,
} from "./job-runs.ts";
import { commandCalls, commandDelta } from "./redis-commands.ts";

/** What the bench tells the worker process. */
export type PeerCommand = { cmd: "start"; queue: string; expect: number; concurrency: number } | { cmd: "stop" } | { cmd: "sent" };

/** What the worker process answers; `sent` is the count of Redis commands it has sent so far. */
export type PeerReply =
  | Counted<"ready" | "started" | "stopped" | "sent">
  | { type: "done"; lastAt: number; completed: number; sent: number; errors: number[] }
  | { type: "error"; message: string };

/** A reply of each `type` that carries only the count of commands sent. */
type Counted<T extends string> = T extends string ? { type: T; sent: number } : never;

type Waiter = { type: PeerReply["type"]; resolve: (r: PeerReply) => void; reject: (e: Error) => void; timer: NodeJS.Timeout };

/** BullMQ's Queue in this process and its Worker in a child process, on the stack's redis-server. */
export class BullmqPeer {
  private waiters: Waiter[] = [];
  private producerSent = 0;
  private exited: Error | null = null;

  private constructor(
    private readonly ctx: BenchContext,
    private readonly child: ChildProcess,
    /** The producer's connection, its commands counted; every `Queue` here shares it. */
    private readonly producer: Redis,
    /** The bench's own connection, for INFO. */
    private readonly redis: Redis,
  ) {
    child.on("message", (m: PeerReply) => this.receive(m));
    child.on("exit", (code, signal) => {
      this.exited = new Error(`the BullMQ worker process exited (${signal ?? code})`);
      for (const w of this.waiters.splice(0)) {
        clearTimeout(w.timer);
        w.reject(this.exited);
      }
    });
    const send = producer.sendCommand.bind(producer);
    producer.sendCommand = (...args: Parameters<Redis["sendCommand"]>) => {
      this.producerSent++;
      return send(...args);
    };
  }

  /** Forks the worker process and connects the producer. */
  static async start(ctx: BenchContext, redis: Redis): Promise<BullmqPeer> {
    const child = fork(resolve(import.meta.dirname, "bullmq-worker.ts"), [], {
      env: { ...process.env, BENCH_REDIS_PORT: String(ctx.stack.redis.port) },
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    const producer = new Redis(ctx.stack.redis.url, { maxRetriesPerRequest: null, lazyConnect: true });
    const peer = new BullmqPeer(ctx, child, producer, redis);
    try {
      await Promise.all([peer.next("ready", 30_000), producer.connect()]);
    } catch (err) {
      await peer.close();
      throw err;
    }
    return peer;
  }

  private receive(message: PeerReply): void {
    if (message.type === "error") {
      this.ctx.log(`jobs: ${message.message}`);
      return;
    }
    const i = this.waiters.findIndex((w) => w.type === message.type);
    if (i < 0) return;
    const [w] = this.waiters.splice(i, 1);
    if (!w) return;
    clearTimeout(w.timer);
    w.resolve(message);
  }

  /** The worker process's next reply of `type`, registered now (before whatever causes it is sent). */
  private next<T extends PeerReply["type"]>(type: T, timeoutMs: number): Promise<Extract<PeerReply, { type: T }>> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolvePromise, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.timer !== timer);
        reject(new Error(`the BullMQ worker process did not answer "${type}" within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.waiters.push({ type, resolve: resolvePromise as (r: PeerReply) => void, reject, timer });
    });
  }

  private request<T extends PeerReply["type"]>(command: PeerCommand, type: T, timeoutMs = 30_000) {
    const answer = this.next(type, timeoutMs);
    this.child.send(command);
    return answer;
  }

  private async queue(name: string): Promise<Queue> {
    const queue = new Queue(name, { connection: this.producer });
    await queue.waitUntilReady();
    return queue;
  }

  private async discard(queue: Queue): Promise<void> {
    await queue.obliterate({ force: true });
    await queue.close();
  }

  /** Adds `jobs` no-op jobs in batches of {@link BATCH} with a worker of {@link CONCURRENCY} running them; times it. */
  async throughput(name: string, jobs = JOBS): Promise<ThroughputRun> {
    const queue = await this.queue(name);
    try {
      const started = await this.request({ cmd: "start", queue: name, expect: jobs, concurrency: CONCURRENCY }, "started");
      const done = this.next("done", 300_000);
      const before = await commandCalls(this.redis);
      const producerBefore = this.producerSent;
      const t0 = Date.now();
      for (let added = 0; added < jobs; added += BATCH) {
        this.ctx.signal.throwIfAborted();
        await queue.addBulk(Array.from({ length: Math.min(BATCH, jobs - added) }, () => ({ name: "noop", data: {} })));
      }
      const addedAt = Date.now();
      const finished = await done;
      const server = commandDelta(before, await commandCalls(this.redis)).total;
      const client = finished.sent - started.sent + this.producerSent - producerBefore;
      await this.request({ cmd: "stop" }, "stopped");
      return {
        jobsPerSec: (jobs * 1000) / (finished.lastAt - t0),
        addedPerSec: (jobs * 1000) / Math.max(1, addedAt - t0),
        clientCommandsPerJob: client / jobs,
        serverCommandsPerJob: server / jobs,
      };
    } finally {
      await this.discard(queue);
    }
  }

  /** Adds {@link DELAYED} jobs at once, delayed 10 ms to 10 s, and measures how late each starts. */
  async delayed(name: string): Promise<DelayedRun> {
    const queue = await this.queue(name);
    try {
      await this.request({ cmd: "start", queue: name, expect: DELAYED, concurrency: CONCURRENCY }, "started");
      const done = this.next("done", SPREAD_MS + 60_000);
      await queue.addBulk(delays().map((delayMs) => ({ name: "delayed", data: { delayMs }, opts: { delay: delayMs } })));
      const finished = await done;
      await this.request({ cmd: "stop" }, "stopped");
      return delayedRun(finished.errors, "BullMQ");
    } finally {
      await this.discard(queue);
    }
  }

  /**
   * Starts an idle worker (on an empty queue); `measure` runs while it idles and may call `sample` at the start and
   * end of its window: the commands the worker process has sent and the redis-server's command counts so far.
   */
  async idle<T>(name: string, measure: (sample: () => Promise<{ sent: number; calls: Map<string, number> }>) => Promise<T>): Promise<T> {
    const queue = await this.queue(name);
    try {
      await this.request({ cmd: "start", queue: name, expect: -1, concurrency: CONCURRENCY }, "started");
      const result = await measure(async () => {
        const [{ sent }, calls] = await Promise.all([this.request({ cmd: "sent" }, "sent"), commandCalls(this.redis)]);
        return { sent, calls };
      });
      await this.request({ cmd: "stop" }, "stopped");
      return result;
    } finally {
      await this.discard(queue);
    }
  }

  /** Stops the worker process and the producer's connection. */
  async close(): Promise<void> {
    this.producer.disconnect();
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once("exit", () => r()));
    if (this.child.connected) this.child.disconnect();
    await Promise.race([exited, sleep(5_000)]);
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
  }
}
