/**
 * The capacity and cost model behind `npm run capacity` and docs/capacity.md: for a load of N gateway
 * requests/s and M events/s, how many rate-limiter shards and stream partitions it needs, and what Cloudflare,
 * Upstash and Neon bill for it per month. Pure arithmetic over the documented {@link PRICES} and
 * {@link DEFAULT_ASSUMPTIONS}, so every figure in the docs can be recomputed and every assumption changed.
 */

/** List prices in USD, as published in November 2026 (see docs/capacity.md for the sources). */
export const PRICES = {
  /** Workers Paid: $5 a month, 10 M requests and 30 M CPU-ms included. Service-binding calls are not billed. */
  workersBase: 5,
  workersIncludedRequests: 10e6,
  workersPerMillionRequests: 0.3,
  workersIncludedCpuMs: 30e6,
  workersPerMillionCpuMs: 0.02,
  /** Durable Objects (Workers Paid): 1 M requests (alarms included) and 400,000 GB-s included. */
  doIncludedRequests: 1e6,
  doPerMillionRequests: 0.15,
  doIncludedGbS: 400_000,
  doPerMillionGbS: 12.5,
  /** Upstash Redis pay as you go: $0.20 per 100,000 commands; storage beyond 1 GB at $0.25 per GB-month. */
  upstashPer100kCommands: 0.2,
  upstashIncludedGb: 1,
  upstashPerGbMonth: 0.25,
  /** Neon Launch: $0.106 per CU-hour, $0.35 per GB-month of storage, no monthly minimum. */
  neonPerCuHour: 0.106,
  neonPerGbMonth: 0.35,
} as const;

/** What the model assumes about the platform and the traffic; every figure can be overridden. */
export interface Assumptions {
  /** Requests/s one Durable Object serves comfortably (Cloudflare: each object is single-threaded, ~1,000/s). */
  perObjectRps: number;
  /** Share of {@link perObjectRps} to plan for, leaving headroom for bursts. */
  headroom: number;
  /** One Upstash REST round trip from a Durable Object in the database's region, ms. */
  upstashRttMs: number;
  /** Time the subscribed service takes for one delivery batch, ms. */
  handlerMsPerBatch: number;
  /** CPU time the consumer object spends per event (parse, sign, serialise), µs. */
  consumerUsPerEvent: number;
  /** Events per delivery round under load (a subscription's `batchSize`). */
  deliveryBatch: number;
  /** Events per publish request (1 for single publishes; the batch endpoint takes up to 1,000). */
  publishBatch: number;
  /** Consumer groups per topic (subscriptions, plus the archiver when archiving). */
  groups: number;
  /**
   * Upstash commands per busy delivery round: XREADGROUP and XACK (XPENDING and the two gauge reads run
   * every 5 s per consumer, not per round).
   */
  commandsPerRound: number;
  /** Upstash round trips per busy round: 1, as a round's XACK travels with the next round's XREADGROUP. */
  roundTripsPerRound: number;
  /** CPU time of one gateway request (auth, quota, routing, proxy), ms. */
  gatewayCpuMs: number;
  /** Share of gateway requests that carry a rate-limit quota (one limiter call each). */
  quotaShare: number;
  /** Serialised size of one event, bytes (Redis and the Postgres event store). */
  eventBytes: number;
  /** Newest entries Redis keeps per stream (`STREAM_RETENTION` maxLen). */
  retainedPerTopic: number;
  /** Whether every event is archived into Postgres. */
  archive: boolean;
  /** Neon compute size kept running, CU (0.25 CU: 1 GB RAM). */
  neonCu: number;
  /** Hours a month Neon's compute is awake (730: always; it suspends when idle). */
  neonActiveHours: number;
}

/** The defaults: the figures docs/capacity.md explains. */
export const DEFAULT_ASSUMPTIONS: Assumptions = {
  perObjectRps: 1000,
  headroom: 0.5,
  upstashRttMs: 3,
  handlerMsPerBatch: 20,
  consumerUsPerEvent: 30,
  deliveryBatch: 100,
  publishBatch: 100,
  groups: 2,
  commandsPerRound: 2,
  roundTripsPerRound: 1,
  gatewayCpuMs: 2,
  quotaShare: 1,
  eventBytes: 600,
  retainedPerTopic: 1_000_000,
  archive: true,
  neonCu: 0.25,
  neonActiveHours: 730,
};

/** The load to plan for: averages over the month for cost, the hottest key and topic for sizing. */
export interface Load {
  /** Gateway requests/s, averaged over the month. */
  requestsPerSec: number;
  /** Events published/s, averaged over the month. */
  eventsPerSec: number;
  /** Requests/s on the hottest single rate-limit key at peak (default: all of `requestsPerSec`). */
  hottestKeyRps?: number;
  /** Events/s on the hottest topic at peak (default: all of `eventsPerSec`). */
  hottestTopicEps?: number;
  /** Topics holding the events (default 1). */
  topics?: number;
}

/** One line of the monthly bill. */
export interface CostLine {
  item: string;
  usage: string;
  usd: number;
}

/** What {@link plan} answers. */
export interface Plan {
  limiterShards: number;
  partitions: number;
  /** Events/s one partition delivers under the assumptions. */
  perPartitionEps: number;
  costs: CostLine[];
  totalUsd: number;
}

/** Seconds in a 30-day month. */
export const MONTH_SECONDS = 30 * 24 * 3600;

const overage = (used: number, included: number, perUnit: number, unit: number) => (Math.max(0, used - included) / unit) * perUnit;
const round2 = (n: number) => Math.round(n * 100) / 100;
/** Whole objects needed for `load` at `each` per object (tolerating floating-point dust: 7.000000001 needs 7). */
const objectsFor = (load: number, each: number) => Math.max(1, Math.ceil(load / each - 1e-9));
const millions = (n: number) => `${(n / 1e6).toLocaleString("en-US", { maximumFractionDigits: 1 })} M`;

/**
 * Events/s one partition's consumer delivers: a round costs `roundTripsPerRound` Upstash round trips, the
 * handler's time and the consumer's CPU per event, and moves `deliveryBatch` events.
 * @example Math.round(perPartitionEps(DEFAULT_ASSUMPTIONS)) // 3846
 */
export function perPartitionEps(a: Assumptions): number {
  const roundMs = a.roundTripsPerRound * a.upstashRttMs + a.handlerMsPerBatch + (a.deliveryBatch * a.consumerUsPerEvent) / 1000;
  return a.deliveryBatch / (roundMs / 1000);
}

/**
 * Shards of the hottest rate-limit key and partitions of the hottest topic, then the month's bill.
 * @example plan({ requestsPerSec: 1000, eventsPerSec: 10000 }).partitions // 7
 */
export function plan(load: Load, assumptions: Partial<Assumptions> = {}): Plan {
  const a = { ...DEFAULT_ASSUMPTIONS, ...assumptions };
  for (const [k, v] of Object.entries({ ...load, ...a })) {
    if (typeof v === "number" && (!Number.isFinite(v) || v < 0)) throw new RangeError(`${k} must be a finite number ≥ 0, got ${v}`);
  }
  if (a.headroom <= 0 || a.headroom > 1) throw new RangeError(`headroom must be in (0, 1], got ${a.headroom}`);
  if (a.deliveryBatch < 1 || a.publishBatch < 1) throw new RangeError("deliveryBatch and publishBatch must be at least 1");
  const budget = a.perObjectRps * a.headroom;
  const limiterShards = objectsFor(load.hottestKeyRps ?? load.requestsPerSec * a.quotaShare, budget);
  const partitionEps = perPartitionEps(a);
  const partitions = objectsFor(load.hottestTopicEps ?? load.eventsPerSec, partitionEps * a.headroom);

  const R = load.requestsPerSec;
  const E = load.eventsPerSec;
  const publishRps = E / a.publishBatch;
  const roundsPerSec = (a.groups * E) / a.deliveryBatch;
  const workerRequests = (R + publishRps) * MONTH_SECONDS;
  const cpuMs = workerRequests * a.gatewayCpuMs;
  // Limiter calls, one poke per publish request and group (coalesced pokes make it fewer), one alarm per round.
  const doRequests = (R * a.quotaShare + publishRps * a.groups + roundsPerSec) * MONTH_SECONDS;
  // A consumer is billed (128 MB) while it works: its share of its capacity; a limiter call keeps its object ~1 ms.
  const consumers = partitions * a.groups * (load.topics ?? 1);
  const utilisation = Math.min(1, E / (load.topics ?? 1) / partitions / partitionEps);
  const gbS = (consumers * utilisation + R * a.quotaShare * 0.001) * 0.128 * MONTH_SECONDS;
  const commands = (publishRps + roundsPerSec * a.commandsPerRound) * MONTH_SECONDS;
  const redisGb = ((load.topics ?? 1) * a.retainedPerTopic * a.eventBytes) / 1e9;
  const archivedGb = a.archive ? (E * MONTH_SECONDS * a.eventBytes) / 1e9 : 0;

  const costs: CostLine[] = [
    { item: "Workers Paid plan", usage: "base", usd: PRICES.workersBase },
    {
      item: "Workers requests",
      usage: `${millions(workerRequests)} (gateway and publish requests; service bindings are free)`,
      usd: overage(workerRequests, PRICES.workersIncludedRequests, PRICES.workersPerMillionRequests, 1e6),
    },
    {
      item: "Workers CPU",
      usage: `${millions(cpuMs)} CPU-ms at ${a.gatewayCpuMs} ms a request`,
      usd: overage(cpuMs, PRICES.workersIncludedCpuMs, PRICES.workersPerMillionCpuMs, 1e6),
    },
    {
      item: "Durable Object requests",
      usage: `${millions(doRequests)} (limiter checks, pokes, delivery rounds)`,
      usd: overage(doRequests, PRICES.doIncludedRequests, PRICES.doPerMillionRequests, 1e6),
    },
    {
      item: "Durable Object duration",
      usage: `${millions(gbS)} GB-s (${consumers} consumer objects, ${Math.round(utilisation * 100)} % busy)`,
      usd: overage(gbS, PRICES.doIncludedGbS, PRICES.doPerMillionGbS, 1e6),
    },
    {
      item: "Upstash commands",
      usage: `${millions(commands)} (${(commands / Math.max(1, E * MONTH_SECONDS)).toFixed(4)} per event)`,
      usd: (commands / 1e5) * PRICES.upstashPer100kCommands,
    },
    {
      item: "Upstash storage",
      usage: `${redisGb.toFixed(1)} GB retained`,
      usd: overage(redisGb, PRICES.upstashIncludedGb, PRICES.upstashPerGbMonth, 1),
    },
    {
      item: "Neon compute",
      usage: `${a.neonCu} CU × ${a.neonActiveHours} h`,
      usd: a.neonCu * a.neonActiveHours * PRICES.neonPerCuHour,
    },
    {
      item: "Neon storage (event store)",
      usage: `+${archivedGb.toFixed(1)} GB a month; billed on the average held, so it grows each month`,
      usd: (archivedGb / 2) * PRICES.neonPerGbMonth,
    },
  ].map((c) => ({ ...c, usd: round2(c.usd) }));
  return {
    limiterShards,
    partitions,
    perPartitionEps: Math.round(partitionEps),
    costs,
    totalUsd: round2(costs.reduce((s, c) => s + c.usd, 0)),
  };
}
