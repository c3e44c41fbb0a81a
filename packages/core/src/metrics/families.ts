import { z } from "zod";

/** Label names and values of one series. */
export type Labels = Record<string, string>;

/** Valid metric names of the Prometheus data model. */
export const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** Valid label names; names starting with `__` are reserved for Prometheus itself. */
const LABEL_NAME = /^(?!__)[a-zA-Z_][a-zA-Z0-9_]*$/;

const LabelSet = z.record(z.string().regex(LABEL_NAME).max(128), z.string().max(1024)).refine((l) => Object.keys(l).length <= 32, {
  message: "at most 32 labels per series",
});

const MetricMeta = { name: z.string().regex(METRIC_NAME).max(200), help: z.string().max(1024) };

/** One series of a counter: its value, or in a delta what it grew by. */
export const CounterSample = z.object({ labels: LabelSet, value: z.number().nonnegative() }).strict();
/** One series of a counter. */
export type CounterSample = z.infer<typeof CounterSample>;

/** One series of a gauge and when it was last set (ms since the epoch): the latest setting wins across isolates. */
export const GaugeSample = z.object({ labels: LabelSet, value: z.number(), at: z.number().int().nonnegative() }).strict();
/** One series of a gauge. */
export type GaugeSample = z.infer<typeof GaugeSample>;

/**
 * One series of a histogram: `counts[i]` observations at or below `buckets[i]` (cumulative, `+Inf` is
 * `count`), their `sum` and `count`. Two samples over the same buckets merge by adding every field.
 */
export const HistogramSample = z
  .object({
    labels: LabelSet.refine((l) => !("le" in l), { message: "`le` is reserved for histogram buckets" }),
    counts: z.array(z.number().int().nonnegative()).max(64),
    sum: z.number(),
    count: z.number().int().nonnegative(),
  })
  .strict();
/** One series of a histogram. */
export type HistogramSample = z.infer<typeof HistogramSample>;

const increasing = (b: number[]) => b.every((v, i) => i === 0 || v > (b[i - 1] ?? -Infinity));

/** A counter and its series. */
export const CounterFamily = z.object({ type: z.literal("counter"), ...MetricMeta, samples: z.array(CounterSample).max(10_000) }).strict();
/** A gauge and its series. */
export const GaugeFamily = z.object({ type: z.literal("gauge"), ...MetricMeta, samples: z.array(GaugeSample).max(10_000) }).strict();
/** A histogram, its bucket bounds and its series. */
export const HistogramFamily = z
  .object({
    type: z.literal("histogram"),
    ...MetricMeta,
    buckets: z.array(z.number()).min(1).max(64).refine(increasing, { message: "buckets must increase" }),
    samples: z.array(HistogramSample).max(10_000),
  })
  .strict()
  .refine((f) => f.samples.every((s) => s.counts.length === f.buckets.length), {
    message: "every sample has one count per bucket",
    path: ["samples"],
  });

/** A metric with its name, help, type and series: what a registry collects and what isolates send as deltas. */
export const MetricFamily = z.union([CounterFamily, GaugeFamily, HistogramFamily]);
/** A metric with its name, help, type and series. */
export type MetricFamily = z.infer<typeof MetricFamily>;
/** The type of a metric family. */
export type MetricType = MetricFamily["type"];

/**
 * A batch of metric deltas from one isolate: `seq` increases by one per batch of that isolate, and a
 * retried batch keeps its `seq`, so the aggregator applies each (isolate, seq) once.
 */
export const MetricsBatch = z
  .object({
    service: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]{0,63}$/)
      .describe("The worker's service name; added as the `service` label to series without one"),
    isolate: z.string().min(8).max(64).describe("Random ID of the sending isolate"),
    seq: z.number().int().positive().describe("Batch number within the isolate, from 1"),
    families: z.array(MetricFamily).max(500),
  })
  .strict();
/** A batch of metric deltas from one isolate. */
export type MetricsBatch = z.infer<typeof MetricsBatch>;

/** `name="value"` pairs of a label set, sorted by name and escaped: the identity of a series within its family. */
export function labelKey(labels: Labels): string {
  const names = Object.keys(labels);
  // Call sites pass their labels in one order every time, usually already sorted: sort only when needed.
  for (let i = 1; i < names.length; i++) {
    if ((names[i - 1] as string) > (names[i] as string)) {
      names.sort();
      break;
    }
  }
  let key = "";
  for (const k of names) key += `${key === "" ? "" : ","}${k}="${escapeLabelValue(labels[k] ?? "")}"`;
  return key;
}

const NEEDS_ESCAPE = /[\\\n"]/;

/** Escapes a label value for the text exposition format. */
function escapeLabelValue(v: string): string {
  if (!NEEDS_ESCAPE.test(v)) return v;
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}
