/** Pure parser of `redis-benchmark --csv` output (Redis 7: header row, then one row per test). */

/** One test's row; latencies in milliseconds (absent when the redis-benchmark version prints only rps). */
export interface RedisBenchmarkRow {
  test: string;
  rps: number;
  avgMs?: number;
  minMs?: number;
  p50Ms?: number;
  p95Ms?: number;
  p99Ms?: number;
  maxMs?: number;
}

/** Splits one CSV line of double-quoted fields (redis-benchmark quotes every field and never embeds quotes). */
function csvFields(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|([^,]+)/g)].map((m) => (m[1] ?? m[2] ?? "").trim());
}

const COLUMNS: Record<string, keyof Omit<RedisBenchmarkRow, "test" | "rps">> = {
  avg_latency_ms: "avgMs",
  min_latency_ms: "minMs",
  p50_latency_ms: "p50Ms",
  p95_latency_ms: "p95Ms",
  p99_latency_ms: "p99Ms",
  max_latency_ms: "maxMs",
};

/**
 * Parses the rows of `redis-benchmark --csv`; lines that are not CSV rows (error messages) are skipped,
 * so a run whose commands all failed yields no rows.
 * @example parseRedisBenchmarkCsv(stdout)[0]?.rps
 */
export function parseRedisBenchmarkCsv(text: string): RedisBenchmarkRow[] {
  const lines = text.split(/\r?\n/).filter((l) => l.startsWith('"'));
  let header = ["test", "rps"];
  const rows: RedisBenchmarkRow[] = [];
  for (const line of lines) {
    const fields = csvFields(line);
    if (fields[0] === "test") {
      header = fields;
      continue;
    }
    const rps = Number(fields[1]);
    if (fields[0] === undefined || !Number.isFinite(rps)) continue;
    const row: RedisBenchmarkRow = { test: fields[0], rps };
    header.forEach((name, i) => {
      const key = COLUMNS[name];
      const value = Number(fields[i]);
      if (key && fields[i] !== undefined && Number.isFinite(value)) row[key] = value;
    });
    rows.push(row);
  }
  return rows;
}
