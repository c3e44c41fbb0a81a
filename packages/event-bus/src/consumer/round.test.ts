import { describe, expect, it } from "vitest";
import {
  batchLimitAfter,
  freshMemory,
  GAUGE_REFRESH_MS,
  nextRound,
  PENDING_CHECK_MS,
  shouldReadPending,
  type RoundFacts,
} from "./round.ts";

const settings = { batchSize: 10 };
const noPlan = { redeliver: [], deadLetter: [], nextDueInMs: null };
const facts = (over: Partial<RoundFacts> = {}): RoundFacts => ({
  pendingRead: 0,
  plan: noPlan,
  claimed: 0,
  room: 10,
  read: 0,
  delivered: 0,
  failed: 0,
  retryDueInMs: null,
  poked: false,
  emptyPolls: 0,
  ...over,
});
const settled = { ...freshMemory(), mayHavePending: false, pendingCheckedAt: 1000 };

describe("shouldReadPending", () => {
  it("reads the pending list on an object's first round and after any failure", () => {
    expect(shouldReadPending(freshMemory(), 0)).toBe(true);
    expect(shouldReadPending({ ...settled, mayHavePending: true }, 1001)).toBe(true);
  });

  it("skips it while rounds leave nothing pending, until the check interval has passed", () => {
    expect(shouldReadPending(settled, 1000 + PENDING_CHECK_MS - 1)).toBe(false);
    expect(shouldReadPending(settled, 1000 + PENDING_CHECK_MS)).toBe(true);
  });
});

describe("nextRound", () => {
  it("runs the next round at once while a full read shows a backlog, and then acknowledgements may ride along", () => {
    const next = nextRound(facts({ read: 10, delivered: 10 }), settings, settled, 5000);
    expect(next).toMatchObject({ nextRunInMs: 0, busy: true, emptyPolls: 0 });
    expect(next.memory.mayHavePending).toBe(false);
  });

  it("runs at once after a poke, even when the read came back short", () => {
    expect(nextRound(facts({ read: 3, delivered: 3, poked: true }), settings, settled, 5000)).toMatchObject({ nextRunInMs: 0, busy: true });
  });

  it("waits until the soonest failed event is due again after a failure and remembers that entries may be pending", () => {
    const next = nextRound(facts({ read: 2, delivered: 1, failed: 1, retryDueInMs: 870 }), settings, settled, 5000);
    expect(next.nextRunInMs).toBe(870);
    expect(next.busy).toBe(false);
    expect(next.memory.mayHavePending).toBe(true);
  });

  it("after a failure, still wakes for an older pending entry that is due sooner", () => {
    const plan = { redeliver: [], deadLetter: [], nextDueInMs: 300 };
    const next = nextRound(facts({ pendingRead: 1, plan, read: 1, failed: 1, retryDueInMs: 900 }), settings, settled, 5000);
    expect(next.nextRunInMs).toBe(300);
  });

  it("waits until the next pending entry is due when that comes before the idle poll", () => {
    const plan = { redeliver: [], deadLetter: [], nextDueInMs: 250 };
    const next = nextRound(facts({ pendingRead: 1, plan }), settings, settled, 5000);
    expect(next.nextRunInMs).toBe(250);
    expect(next.memory.mayHavePending).toBe(true);
  });

  it("backs off while idle, doubling with each empty round", () => {
    expect(nextRound(facts({ emptyPolls: 0 }), settings, settled, 5000)).toMatchObject({ nextRunInMs: 2000, emptyPolls: 1 });
    expect(nextRound(facts({ emptyPolls: 3 }), settings, settled, 5000)).toMatchObject({ nextRunInMs: 16_000, emptyPolls: 4 });
  });

  it("keeps checking the pending list when a claim came back short or the list filled a page", () => {
    const plan = { redeliver: ["1-0", "2-0"], deadLetter: [], nextDueInMs: null };
    expect(nextRound(facts({ pendingRead: 2, plan, claimed: 1, delivered: 1 }), settings, settled, 5000).memory.mayHavePending).toBe(true);
    expect(nextRound(facts({ pendingRead: 2, plan, claimed: 2, delivered: 2 }), settings, settled, 5000).memory.mayHavePending).toBe(false);
    const page = { redeliver: Array.from({ length: 10 }, (_, i) => `${i}-0`), deadLetter: [], nextDueInMs: null };
    expect(
      nextRound(facts({ pendingRead: 10, plan: page, claimed: 10, delivered: 10 }), settings, settled, 5000).memory.mayHavePending,
    ).toBe(true);
  });

  it("refreshes the gauges every few seconds while delivering and once when the work runs out", () => {
    const busy = facts({ read: 10, delivered: 10 });
    const first = nextRound(busy, settings, { ...settled, gaugesAt: 5000 }, 5000 + GAUGE_REFRESH_MS - 1);
    expect(first.refreshGauges).toBe(false);
    expect(first.memory.gaugesStale).toBe(true);
    const due = nextRound(busy, settings, first.memory, 5000 + GAUGE_REFRESH_MS);
    expect(due.refreshGauges).toBe(true);
    expect(due.memory).toMatchObject({ gaugesStale: false, gaugesAt: 5000 + GAUGE_REFRESH_MS });
    const idle = nextRound(facts(), settings, first.memory, 5001);
    expect(idle.refreshGauges).toBe(true);
    expect(nextRound(facts(), settings, idle.memory, 5002).refreshGauges).toBe(false);
  });

  it("counts a round that only dead-lettered as active", () => {
    const plan = { redeliver: [], deadLetter: [{ streamId: "1-0", idleMs: 0, deliveries: 5 }], nextDueInMs: null };
    expect(nextRound(facts({ pendingRead: 1, plan, emptyPolls: 4 }), settings, settled, 5000).emptyPolls).toBe(0);
  });
});

describe("batchLimitAfter", () => {
  it("halves the batch on every throttled attempt, down to one event", () => {
    let limit = 100;
    for (const expected of [50, 25, 12, 6, 3, 1, 1]) expect((limit = batchLimitAfter(limit, 100, "throttled"))).toBe(expected);
  });

  it("grows it back by a tenth of the configured size per answered attempt, never past it", () => {
    expect(batchLimitAfter(1, 100, "answered")).toBe(11);
    expect(batchLimitAfter(95, 100, "answered")).toBe(100);
    expect(batchLimitAfter(1, 5, "answered")).toBe(2);
  });
});
