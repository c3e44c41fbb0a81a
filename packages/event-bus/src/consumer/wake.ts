import type { EventBusEnv } from "../env.ts";
import { ARCHIVER_GROUP, consumerObjectName, type ConsumerConfig } from "../subscription.ts";
import { PokeCoalescer } from "./poke-coalescer.ts";

const pokes = new PokeCoalescer();
/** Consumers this isolate has already made sure of; later publishes only poke them. */
const ensuredConsumers = new Set<string>();
/** Consumer object ids by name: `idFromName` hashes the name, and a busy topic wakes its consumers on every publish. */
const consumerIds = new Map<string, DurableObjectId>();

/** The consumer object of a (stream, group). */
export function consumerStub(env: Pick<EventBusEnv, "STREAM_CONSUMER">, config: Pick<ConsumerConfig, "stream" | "group">) {
  const name = consumerObjectName(config.stream, config.group);
  let id = consumerIds.get(name);
  if (!id) consumerIds.set(name, (id = env.STREAM_CONSUMER.idFromName(name)));
  return env.STREAM_CONSUMER.get(id);
}

/**
 * Wakes one consumer object. The first time an isolate meets it, it is configured if it is not yet (the
 * archiver of a stream on its first publish; a partition that appeared when a topic's partition count
 * grew), which pokes it as well; afterwards pokes are coalesced (see {@link PokeCoalescer}). An archiver
 * found removed (its stream was deleted, and is being published to again) is configured again; a removed
 * subscription's consumer is not: the subscription is gone.
 * @example await wakeConsumer(env, archiverConfig("orders"));
 */
export function wakeConsumer(env: Pick<EventBusEnv, "STREAM_CONSUMER">, config: ConsumerConfig): Promise<void> {
  const name = consumerObjectName(config.stream, config.group);
  const stub = consumerStub(env, config);
  if (!ensuredConsumers.has(name)) return stub.ensure(config).then(() => void ensuredConsumers.add(name));
  const send = async () => {
    if (!(await stub.poke()) && config.group === ARCHIVER_GROUP) await stub.ensure(config);
  };
  return pokes.poke(name, send) ?? Promise.resolve();
}
