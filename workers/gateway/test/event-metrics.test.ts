import { env, SELF } from "cloudflare:test";
import { consumerObjectName } from "@foundation/event-bus";
import { describe, expect, it, vi } from "vitest";
import { token } from "./auth.ts";
import { sample } from "./metrics-sample.ts";

const api = "http://gw.test/api/foundation";

async function call(method: string, path: string, scope: string, body?: unknown, headers: Record<string, string> = {}) {
  return SELF.fetch(`${api}${path}`, {
    method,
    headers: { "content-type": "application/json", authorization: `Bearer ${await token(scope)}`, ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

describe("event bus metrics", () => {
  it("count published and duplicate events per stream", async () => {
    const stream = `test.metrics.${crypto.randomUUID().slice(0, 8)}`;
    const key = { "Idempotency-Key": `metrics-${stream}` };
    for (let i = 0; i < 2; i++) {
      expect((await call("POST", `/events/${stream}/batch`, "publish", [{ type: "a" }, { type: "b" }], key)).status).toBe(202);
    }
    const text = await (await SELF.fetch("http://gw.test/metrics")).text();
    expect(sample(text, "foundation_events_published_total", { stream })).toBe(2);
    expect(sample(text, "foundation_events_duplicates_total", { stream })).toBe(2);
  });

  it("count deliveries per stream, group and outcome, time them, and gauge the group's lag, pending and dead letters", async () => {
    const stream = "example.greetings";
    const group = `m-${crypto.randomUUID().slice(0, 8)}`;
    const sub = await call("POST", "/subscriptions", "admin", {
      stream,
      group,
      target: { service: "example" },
      maxDeliveries: 1,
      retryBackoffMs: 20,
    });
    expect(sub.status).toBe(201);
    expect((await call("POST", `/events/${stream}/batch`, "publish", [{ type: "g" }, { type: "g", data: { fail: true } }])).status).toBe(
      202,
    );
    const stub = env.STREAM_CONSUMER.get(env.STREAM_CONSUMER.idFromName(consumerObjectName(stream, group)));
    // Rounds until the failed event, past its backoff, has been dead-lettered and the pending gauge shows it
    // (the publish's poke may have run the first round).
    let text = "";
    await vi.waitFor(
      async () => {
        await stub.runRound();
        text = await (await SELF.fetch("http://gw.test/metrics")).text();
        expect(sample(text, "foundation_event_deliveries_total", { group, stream, outcome: "dead_lettered" })).toBeGreaterThanOrEqual(1);
        // Gauges follow within a round or two (other test files may publish to the same stream meanwhile).
        expect(sample(text, "foundation_event_consumer_pending", { group, stream })).toBe(0);
      },
      { timeout: 10_000, interval: 50 },
    );

    const labels = { group, stream };
    expect(sample(text, "foundation_event_deliveries_total", { ...labels, outcome: "ok" })).toBeGreaterThanOrEqual(1);
    expect(sample(text, "foundation_event_deliveries_total", { ...labels, outcome: "failed" })).toBeGreaterThanOrEqual(1);
    expect(sample(text, "foundation_event_deliveries_total", { ...labels, outcome: "dead_lettered" })).toBeGreaterThanOrEqual(1);
    expect(sample(text, "foundation_event_delivery_latency_seconds_count", labels)).toBeGreaterThanOrEqual(1);
    expect(sample(text, "foundation_event_consumer_lag", labels)).toBeGreaterThanOrEqual(0);
    expect(sample(text, "foundation_event_consumer_pending", labels)).toBe(0);
    expect(sample(text, "foundation_event_dead_letters", { stream })).toBeGreaterThanOrEqual(1);
  });

  it("renders only Prometheus-valid metric names, label names and sample lines", async () => {
    const text = await (await SELF.fetch("http://gw.test/metrics")).text();
    const name = "[a-zA-Z_:][a-zA-Z0-9_:]*";
    const labels = `\\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\.)*",?)*\\}`;
    const valid = new RegExp(`^(?:# (?:HELP|TYPE) ${name} .+|${name}(?:${labels})? (?:-?[0-9.e+-]+|NaN|[+-]Inf))$`);
    const lines = text.trimEnd().split("\n");
    expect(lines.filter((l) => !valid.test(l))).toEqual([]);
    for (const metric of [
      "foundation_events_published_total",
      "foundation_event_deliveries_total",
      "foundation_stream_retention_held_back",
    ]) {
      expect(text).toContain(`# TYPE ${metric} `);
    }
  });
});
