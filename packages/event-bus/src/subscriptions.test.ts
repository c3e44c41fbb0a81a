import { describe, expect, it } from "vitest";
import type { ConsumerStatus } from "./consumer/types.ts";
import { sumStatuses } from "./subscriptions.ts";

const partition = (overrides: Partial<ConsumerStatus> = {}): ConsumerStatus => ({
  state: "active",
  lag: 2,
  pending: 1,
  dlqSize: 0,
  lastDeliveryAt: null,
  ...overrides,
});

describe("sumStatuses", () => {
  it("sums the partitions' lag and pending, and leaves streamMissing out while every stream is there", () => {
    expect(sumStatuses([partition(), partition()])).toEqual({ state: "active", lag: 4, pending: 2, dlqSize: 0, lastDeliveryAt: null });
  });

  it("shows the topic's stream missing, and its lag unknown, when one partition's stream is missing", () => {
    const summed = sumStatuses([partition(), partition({ lag: null, pending: 0, streamMissing: true })]);
    expect(summed).toMatchObject({ lag: null, pending: 1, streamMissing: true });
  });
});
