/**
 * Entry of the event bench's subscriber (bundled by bench/events.bench.ts). JavaScript on purpose: bench/ is
 * type-checked with Node's types and the service kit needs workerd's, so the kit is wired in here and
 * event-sink.ts holds the typed recording logic. Served beside the gateway bundle, which delivers to it through
 * its `BENCH_SINK` service binding as to any subscribed service.
 */
import { createService } from "@foundation/service-kit";
import { LatencyRecorder, SCALE_TOPICS, SINK_STREAMS } from "./event-sink.ts";

const recorder = new LatencyRecorder();
const app = createService({ name: "bench-sink", version: "0.0.0", registry: false, dependencies: { redis: false, postgres: false } });

for (const stream of [...SINK_STREAMS, ...SCALE_TOPICS]) {
  app.subscribe(stream, (_event, { streamId }) => recorder.record(streamId, Date.now()));
}
app.get("/stats", (c) => c.json(recorder.snapshot()));
// Cheap enough to poll while a backlog drains: no histogram walk.
app.get("/count", (c) => c.json(recorder.progress()));
app.post("/reset", (c) => {
  recorder.reset();
  return c.json({ ok: true });
});

export default app;
