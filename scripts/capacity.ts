/**
 * `npm run capacity -- --rps <requests/s> --eps <events/s> [options]`: the shards, partitions and monthly bill
 * the capacity model (scripts/capacity-model.ts, explained in docs/capacity.md) gives for a load.
 */
import { parseArgs } from "node:util";
import { DEFAULT_ASSUMPTIONS, plan, type Assumptions, type Load } from "./capacity-model.ts";

const USAGE = `usage: npm run capacity -- --rps <gateway requests/s> --eps <events/s> [--hot-key-rps N] [--hot-topic-eps N]
       [--topics N] [--publish-batch N] [--delivery-batch N] [--groups N] [--handler-ms N] [--upstash-rtt-ms N] [--no-archive]
Loads are monthly averages (they set the bill); --hot-key-rps and --hot-topic-eps are peaks (they set shards and partitions).`;

function fail(message: string): never {
  console.error(`capacity: ${message}\n${USAGE}`);
  process.exit(2);
}

function numberOption(values: Record<string, unknown>, name: string): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  if (typeof raw !== "string") fail(`--${name} takes a value`);
  const n = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(n) || n < 0) fail(`--${name} must be a number ≥ 0, got ${raw}`);
  return n;
}

let values: Record<string, unknown>;
try {
  const names = [
    "rps",
    "eps",
    "hot-key-rps",
    "hot-topic-eps",
    "topics",
    "publish-batch",
    "delivery-batch",
    "groups",
    "handler-ms",
    "upstash-rtt-ms",
  ];
  const options = Object.fromEntries(names.map((n) => [n, { type: "string" as const }]));
  values = parseArgs({ options: { ...options, "no-archive": { type: "boolean" } }, strict: true }).values;
} catch (err) {
  fail((err as Error).message);
}
const rps = numberOption(values, "rps");
const eps = numberOption(values, "eps");
if (rps === undefined || eps === undefined) fail("--rps and --eps are required");
const load: Load = {
  requestsPerSec: rps,
  eventsPerSec: eps,
  hottestKeyRps: numberOption(values, "hot-key-rps"),
  hottestTopicEps: numberOption(values, "hot-topic-eps"),
  topics: numberOption(values, "topics"),
};
const assumptions: Partial<Assumptions> = Object.fromEntries(
  Object.entries({
    publishBatch: numberOption(values, "publish-batch"),
    deliveryBatch: numberOption(values, "delivery-batch"),
    groups: numberOption(values, "groups"),
    handlerMsPerBatch: numberOption(values, "handler-ms"),
    upstashRttMs: numberOption(values, "upstash-rtt-ms"),
    archive: values["no-archive"] === true ? false : undefined,
  }).filter(([, v]) => v !== undefined),
);
let result: ReturnType<typeof plan>;
try {
  result = plan(load, assumptions);
} catch (err) {
  fail((err as Error).message);
}
const a = { ...DEFAULT_ASSUMPTIONS, ...assumptions };
const usd = (n: number) => `$${n.toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
console.log(`Load: ${rps.toLocaleString("en-US")} requests/s and ${eps.toLocaleString("en-US")} events/s on average`);
console.log(
  `Rate limiter: ${result.limiterShards} shard(s) for the hottest key (${a.perObjectRps * a.headroom} requests/s planned per object)`,
);
console.log(
  `Event bus: ${result.partitions} partition(s) for the hottest topic (${result.perPartitionEps.toLocaleString("en-US")} events/s per partition, planned at ${a.headroom * 100} %)`,
);
console.log("Monthly bill:");
const width = Math.max(...result.costs.map((c) => c.item.length));
for (const c of result.costs) console.log(`  ${c.item.padEnd(width)}  ${usd(c.usd).padStart(12)}  ${c.usage}`);
console.log(`  ${"Total".padEnd(width)}  ${usd(result.totalUsd).padStart(12)}`);
