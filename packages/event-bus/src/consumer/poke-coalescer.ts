/**
 * Coalesces the pokes an isolate sends to one consumer: at most one per `gapMs`, and always one after the
 * last publish (a poke that comes too soon is sent at the end of the gap, and the pokes in between ride on
 * it). A busy stream then costs its consumer object a few RPCs a second from each isolate instead of one
 * per publish, and delivery waits at most `gapMs` longer.
 */
export class PokeCoalescer {
  private readonly lastSent = new Map<string, number>();
  private readonly scheduled = new Set<string>();

  constructor(
    private readonly gapMs = 25,
    private readonly now: () => number = Date.now,
    private readonly wait: (ms: number) => Promise<unknown> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {}

  /**
   * Pokes the consumer named `name` through `send`, now or at the end of the gap. Returns the work to keep
   * alive (`waitUntil`), or undefined when a later poke is already scheduled and covers this one.
   */
  poke(name: string, send: () => Promise<void>): Promise<void> | undefined {
    if (this.scheduled.has(name)) return undefined;
    const due = (this.lastSent.get(name) ?? -Infinity) + this.gapMs - this.now();
    if (due <= 0) {
      this.lastSent.set(name, this.now());
      return send();
    }
    this.scheduled.add(name);
    return this.wait(due).then(() => {
      this.scheduled.delete(name);
      this.lastSent.set(name, this.now());
      return send();
    });
  }
}
