import assert from "node:assert/strict";
import { describe, it } from "vitest";
import { DEFAULT_ASSUMPTIONS, MONTH_SECONDS, perPartitionEps, plan, PRICES } from "./capacity-model.ts";

const total = (p: ReturnType<typeof plan>, item: string) => p.costs.find((c) => c.item === item)?.usd ?? Number.NaN;

describe("capacity model", () => {
  it("sizes one shard and one partition for a small load, and bills only the base plan and Neon", () => {
    const p = plan({ requestsPerSec: 0.1, eventsPerSec: 0.1 }, { archive: false });
    assert.equal(p.limiterShards, 1);
    assert.equal(p.partitions, 1);
    assert.equal(total(p, "Workers requests"), 0);
    assert.equal(total(p, "Durable Object requests"), 0);
    assert.equal(total(p, "Workers Paid plan"), PRICES.workersBase);
    assert.equal(total(p, "Neon compute"), Math.round(0.25 * 730 * PRICES.neonPerCuHour * 100) / 100);
    assert.equal(p.totalUsd, Math.round(p.costs.reduce((s, c) => s + c.usd, 0) * 100) / 100);
  });

  it("adds shards and partitions as the hot key and topic grow, at the planned share of one object", () => {
    assert.equal(Math.round(perPartitionEps(DEFAULT_ASSUMPTIONS)), 3846); // 100 events per 3 + 20 + 3 ms
    assert.equal(Math.round(perPartitionEps({ ...DEFAULT_ASSUMPTIONS, deliveryBatch: 1000 })), 18_868); // 1,000 per 53 ms
    const p = plan({ requestsPerSec: 1000, eventsPerSec: 10_000 });
    assert.equal(p.limiterShards, 2); // 1,000/s on one key at 500/s planned per object
    assert.equal(p.partitions, 6); // 10,000/s at 1,923/s planned per partition
    assert.equal(plan({ requestsPerSec: 1000, eventsPerSec: 10_000, hottestKeyRps: 100 }).limiterShards, 1);
    assert.equal(plan({ requestsPerSec: 10, eventsPerSec: 10, hottestTopicEps: 50_000 }).partitions, 26); // 50,000 / 1,923
  });

  it("bills requests past the included 10 million at $0.30 a million", () => {
    const p = plan({ requestsPerSec: 100, eventsPerSec: 0 });
    const requests = 100 * MONTH_SECONDS;
    assert.equal(total(p, "Workers requests"), Math.round(((requests - 10e6) / 1e6) * 0.3 * 100) / 100);
  });

  it("counts Upstash commands from publish requests and delivery rounds", () => {
    const p = plan({ requestsPerSec: 0, eventsPerSec: 1000 }, { publishBatch: 100, deliveryBatch: 100, groups: 1, commandsPerRound: 4 });
    // 10 publish requests/s + 10 rounds/s × 4 commands = 50 commands/s
    assert.equal(total(p, "Upstash commands"), Math.round(((50 * MONTH_SECONDS) / 1e5) * 0.2 * 100) / 100);
  });

  it("refuses nonsense", () => {
    assert.throws(() => plan({ requestsPerSec: -1, eventsPerSec: 0 }), /requestsPerSec must be a finite number/);
    assert.throws(() => plan({ requestsPerSec: 1, eventsPerSec: 1 }, { headroom: 0 }), /headroom/);
    assert.throws(() => plan({ requestsPerSec: 1, eventsPerSec: 1 }, { deliveryBatch: 0 }), /deliveryBatch/);
  });
});
