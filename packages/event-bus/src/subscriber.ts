/**
 * `@foundation/event-bus/subscriber`: what a service that receives deliveries needs (the event and delivery
 * formats, and the signature check) without Redis, Postgres or the consumer object.
 */
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
export {
  correlationIdOf,
  Delivery,
  DELIVERY_PATH,
  deliveryBody,
  DeliveryRequest,
  DeliveryResponse,
  DeliveryResult,
  outcomes,
  parseStoredEvent,
  readSignedDelivery,
  type Outcomes,
  type RawDelivery,
} from "./delivery.ts";
export {
  newWebhookSecret,
  serviceSecret,
  SIGNATURE_TOLERANCE_SECONDS,
  signWebhook,
  verifyWebhook,
  WEBHOOK_ID,
  WEBHOOK_SIGNATURE,
  WEBHOOK_TIMESTAMP,
  webhookHeaders,
  type SignatureFailure,
} from "@foundation/core";
