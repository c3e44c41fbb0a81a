import { describe, expect, it } from "vitest";
import { PokeCoalescer } from "./poke-coalescer.ts";

/** A clock and a wait the test moves by hand. */
function manualTime() {
  let now = 0;
  const waiting: { at: number; resolve: () => void }[] = [];
  return {
    now: () => now,
    wait: (ms: number) => new Promise<void>((resolve) => waiting.push({ at: now + ms, resolve })),
    async advance(ms: number) {
      now += ms;
      for (const w of waiting.filter((w) => w.at <= now)) {
        waiting.splice(waiting.indexOf(w), 1);
        w.resolve();
      }
      await new Promise((r) => setTimeout(r, 0));
    },
  };
}

describe("PokeCoalescer", () => {
  it("pokes at once when the consumer was not poked within the gap", async () => {
    const time = manualTime();
    const pokes: number[] = [];
    const coalescer = new PokeCoalescer(25, time.now, time.wait);
    await coalescer.poke("a", async () => void pokes.push(time.now()));
    await time.advance(30);
    await coalescer.poke("a", async () => void pokes.push(time.now()));
    expect(pokes).toEqual([0, 30]);
  });

  it("folds a burst into one trailing poke at the end of the gap, so the last publish is always followed by a poke", async () => {
    const time = manualTime();
    const pokes: number[] = [];
    const send = async () => void pokes.push(time.now());
    const coalescer = new PokeCoalescer(25, time.now, time.wait);
    await coalescer.poke("a", send);
    const trailing = coalescer.poke("a", send);
    expect(trailing).toBeDefined();
    await time.advance(10);
    expect(coalescer.poke("a", send)).toBeUndefined();
    expect(coalescer.poke("a", send)).toBeUndefined();
    await time.advance(15);
    await trailing;
    expect(pokes).toEqual([0, 25]);
    // After the trailing poke the next one waits for a new gap again.
    const next = coalescer.poke("a", send);
    await time.advance(25);
    await next;
    expect(pokes).toEqual([0, 25, 50]);
  });

  it("keeps consumers apart", async () => {
    const time = manualTime();
    const pokes: string[] = [];
    const coalescer = new PokeCoalescer(25, time.now, time.wait);
    await coalescer.poke("a", async () => void pokes.push("a"));
    await coalescer.poke("b", async () => void pokes.push("b"));
    expect(pokes).toEqual(["a", "b"]);
  });
});
