/** What one delivery round did, for tests and status. */
export interface RoundReport {
  delivered: number;
  failed: number;
  redelivered: number;
  deadLettered: number;
  nextRunInMs: number;
}

/** Status of a subscription's consumer. */
export interface ConsumerStatus {
  /** `paused` after its target answered 410 Gone or an operator paused it: nothing is delivered until it resumes. */
  state: "active" | "paused";
  pausedReason?: string;
  lag: number | null;
  pending: number;
  dlqSize: number;
  /** Present when the stream is not in Redis (deleted, evicted or lost): `lag` is then null and `pending` 0. */
  streamMissing?: true;
  lastDeliveryAt: string | null;
}

/** What a consumer reads from Redis for its status and gauges. */
export type ConsumerGauges = Pick<ConsumerStatus, "lag" | "pending" | "dlqSize" | "streamMissing">;

/** Why and since when a consumer is paused (in storage, so a restart stays paused). */
export interface Paused {
  reason: string;
  at: number;
  /** Set when the target answered 410 Gone: the subscription is deleted some days later unless resumed (see `goneExpiresAt`). */
  gone?: true;
}

/**
 * The Redis consumer name of the object with this id: stable across restarts, so a restarted object
 * finds its own pending entries.
 * @example consumerName(env.STREAM_CONSUMER.idFromName("orders|billing").toString())
 */
export function consumerName(objectId: string): string {
  return `do-${objectId.slice(0, 16)}`;
}
