export {
  CloudEvent,
  EventInput,
  MAX_EVENT_BYTES,
  serialiseEvent,
  ShortEvent,
  StreamName,
  toEnvelope,
  type EnvelopeContext,
} from "./envelope.ts";
export { IDEMPOTENCY_TTL_SECONDS, idempotencyRecordKey, publishEvents, type PublishOptions, type PublishResult } from "./publish.ts";
export { parseEntries, replayEvents, STREAM_ID, type ReplayOptions, type StoredEvent } from "./replay.ts";
export { PUBLISH_SCRIPT, PUBLISH_SCRIPT_SHA1 } from "./scripts.ts";
