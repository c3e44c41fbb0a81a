import type { LogEntry } from "./entry.ts";

/** When a buffer sends its lines: after `intervalMs` since the first waiting line, or once `batchSize` wait. */
export interface BufferPolicy {
  intervalMs: number;
  /** Lines per write (one INSERT, one Loki push). */
  batchSize: number;
  /** Lines one isolate holds while writes are slow or failing; lines past it are dropped and counted. */
  maxLines: number;
}

/** Send within a second, 200 lines per write, at most 5,000 waiting. */
export const DEFAULT_BUFFER_POLICY: BufferPolicy = { intervalMs: 1000, batchSize: 200, maxLines: 5000 };

/**
 * The lines an isolate collected and has not written yet, in arrival order. Pure: the caller decides when to drain
 * (see {@link LogBuffer.due}) and does the writing.
 * @example const buffer = new LogBuffer(DEFAULT_BUFFER_POLICY); buffer.add(entries, Date.now()); if (buffer.due(Date.now())) write(buffer.take());
 */
export class LogBuffer {
  private lines: LogEntry[] = [];
  private firstAt: number | undefined;

  constructor(readonly policy: BufferPolicy) {}

  /** Keeps `entries` up to `maxLines`; answers how many did not fit. */
  add(entries: readonly LogEntry[], now: number): number {
    const room = Math.max(0, this.policy.maxLines - this.lines.length);
    const kept = entries.slice(0, room);
    if (kept.length > 0) {
      this.firstAt ??= now;
      this.lines.push(...kept);
    }
    return entries.length - kept.length;
  }

  /** Lines waiting. */
  get size(): number {
    return this.lines.length;
  }

  /** Ms until the buffer is due (0 when it is), or undefined when it is empty. */
  dueIn(now: number): number | undefined {
    if (this.firstAt === undefined) return undefined;
    if (this.lines.length >= this.policy.batchSize) return 0;
    return Math.max(0, this.firstAt + this.policy.intervalMs - now);
  }

  /** Whether a write should start now. */
  due(now: number): boolean {
    return this.dueIn(now) === 0;
  }

  /** Takes the oldest `batchSize` lines out of the buffer. */
  take(): LogEntry[] {
    const batch = this.lines.splice(0, this.policy.batchSize);
    this.firstAt = this.lines.length > 0 ? this.firstAt : undefined;
    return batch;
  }
}
