import { labelKey, type MetricFamily } from "./families.ts";

/** Content type of the Prometheus text exposition format. */
export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

function escapeHelp(v: string): string {
  return v.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** A sample value as the text format spells it. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return "NaN";
  if (v === Infinity) return "+Inf";
  if (v === -Infinity) return "-Inf";
  return String(v);
}

function series(name: string, key: string, extra?: string): string {
  const all = [key, extra].filter(Boolean).join(",");
  return all ? `${name}{${all}}` : name;
}

/** The text lines of one family: HELP, TYPE, then its series (histograms as `_bucket`, `_sum`, `_count`). */
export function renderFamily(f: MetricFamily): string[] {
  const lines = [`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`];
  if (f.type !== "histogram") {
    for (const s of f.samples) lines.push(`${series(f.name, labelKey(s.labels))} ${formatValue(s.value)}`);
    return lines;
  }
  for (const s of f.samples) {
    const key = labelKey(s.labels);
    f.buckets.forEach((b, i) => lines.push(`${series(`${f.name}_bucket`, key, `le="${formatValue(b)}"`)} ${s.counts[i] ?? 0}`));
    lines.push(`${series(`${f.name}_bucket`, key, 'le="+Inf"')} ${s.count}`);
    lines.push(`${series(`${f.name}_sum`, key)} ${formatValue(s.sum)}`);
    lines.push(`${series(`${f.name}_count`, key)} ${s.count}`);
  }
  return lines;
}

/**
 * Families in the Prometheus text exposition format (version 0.0.4), ending with a newline; empty when
 * there are none.
 * @example new Response(renderFamilies(registry.collect()), { headers: { "content-type": PROMETHEUS_CONTENT_TYPE } });
 */
export function renderFamilies(families: readonly MetricFamily[]): string {
  const lines = families.flatMap(renderFamily);
  return lines.length ? `${lines.join("\n")}\n` : "";
}
