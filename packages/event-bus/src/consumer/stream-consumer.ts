import { DurableObject } from "cloudflare:workers";
import { createLogger, errorFields, flushMetricsIfDue, redisFrom, streamIdMs, workerMetrics, type Redis } from "@foundation/core";
import { planRetries, type PendingEntry } from "../backoff.ts";
import { correlationIdOf, type Outcomes, type RawDelivery } from "../delivery.ts";
import type { EventBusEnv } from "../env.ts";
import { eventMetrics } from "../metrics.ts";
import type { ConsumerConfig } from "../subscription.ts";
import { deliverBatch } from "./deliver.ts";
import { acknowledge, claim, createGroup, readGauges, readNew, readPending, writeDeadLetter } from "./redis-steps.ts";
import { freshMemory, nextRound, shouldReadPending, type NextRound, type RoundMemory } from "./round.ts";

/** What one delivery round did, for tests and status. */
export interface RoundReport {
  delivered: number;
  failed: number;
  redelivered: number;
  deadLettered: number;
  nextRunInMs: number;
}

/** Status of a subscription's consumer. */
export interface ConsumerStatus {
  lag: number | null;
  pending: number;
  dlqSize: number;
  lastDeliveryAt: string | null;
}

/**
 * How long one alarm keeps running rounds back to back while they leave work. Past it, the alarm returns
 * (flushing metrics) and the next alarm, set for now, carries on.
 */
const ALARM_LOOP_MS = 2000;
/** `lastDeliveryAt` (a status field) is written to storage at most this often; a write is a commit. */
const LAST_DELIVERY_WRITE_MS = 1000;
/** What a round reports when the object has no subscription. */
const UNCONFIGURED: RoundReport = { delivered: 0, failed: 0, redelivered: 0, deadLettered: 0, nextRunInMs: -1 };

const log = createLogger({ component: "stream-consumer" });

/**
 * The Redis consumer name of the object with this id: stable across restarts, so a restarted object
 * finds its own pending entries.
 * @example consumerName(env.STREAM_CONSUMER.idFromName("orders|billing").toString())
 */
export function consumerName(objectId: string): string {
  return `do-${objectId.slice(0, 16)}`;
}

/** Where a subscription delivers, for logs: the service name, the URL's origin, or the event store. */
function targetName(target: ConsumerConfig["target"]): string {
  if ("service" in target) return `service:${target.service}`;
  if ("url" in target) return `url:${new URL(target.url).origin}`;
  return "archive";
}

/** The distinct correlation IDs of a batch (at most 20), so a delivery's log line joins the publishers' traces. */
function correlationIdsOf(batch: readonly RawDelivery[]): string[] {
  const ids = new Set<string>();
  for (const d of batch) {
    const id = correlationIdOf(d.json);
    if (id) ids.add(id);
    if (ids.size === 20) break;
  }
  return [...ids];
}

/**
 * Drives one (stream, group): each alarm round redelivers due pending entries (dead-lettering those past
 * maxDeliveries: dead letter written first, then acknowledged), reads new entries with XREADGROUP COUNT (never
 * BLOCK: Upstash's REST API cannot block), delivers them as one signed batch (or, for a stream's archiver, writes
 * them into the Postgres event store), acknowledges the successes, and schedules the next round: at once while
 * there is backlog, at the next retry due time, or backing off while idle until a publish pokes it. One object is
 * the group's only consumer, and it runs one round at a time, so an event is never handled by two consumers at
 * once however slow its handler is. What a round means is decided by the pure `nextRound`; this class does the I/O.
 */
export class StreamConsumer extends DurableObject<EventBusEnv & Cloudflare.Env> {
  /** The round in progress, if any: a second caller joins it instead of starting a parallel one. */
  #inFlight: Promise<RoundReport> | undefined;
  /** Set by a poke: a round that ends schedules the next one at once instead of its idle or retry wait. */
  #poked = false;
  /** The stored subscription, read once per object lifetime (a storage read per round showed in profiles). */
  #config: Readonly<ConsumerConfig> | undefined | null = null;
  #memory: RoundMemory = freshMemory();
  /** Empty rounds in a row, mirrored from storage so an active consumer does not rewrite a 0 every round. */
  #emptyPolls: number | undefined;
  #lastDeliveryWrittenAt = 0;
  /** The last delivery's time, ahead of storage by at most {@link LAST_DELIVERY_WRITE_MS}. */
  #lastDeliveryAt: number | undefined;
  /**
   * Stream ids delivered by the last round of an alarm's loop and not yet acknowledged: the next round sends
   * the XACK in one request with its XREADGROUP, which takes a round trip off every busy round. The loop
   * acknowledges them itself when it ends; a crash before that redelivers them (at least once, as always).
   */
  #deferredAcks: string[] = [];

  get #redis(): Redis {
    return redisFrom(this.env);
  }

  get #stored(): Readonly<ConsumerConfig> | undefined {
    if (this.#config === null) {
      const stored = this.ctx.storage.kv.get<ConsumerConfig>("config");
      this.#config = stored === undefined ? undefined : Object.freeze(stored);
    }
    return this.#config;
  }

  /** Stores the subscription, creates the consumer group if needed and starts delivering. */
  async configure(config: ConsumerConfig): Promise<void> {
    await createGroup(this.#redis, config, config.startAt === "beginning" ? "0" : "$");
    this.ctx.storage.kv.put("config", config);
    this.#config = Object.freeze({ ...config });
    this.#memory = freshMemory();
    this.#setEmptyPolls(0);
    await this.ctx.storage.setAlarm(Date.now());
  }

  /** Configures the object on first use and pokes it afterwards: how a publish drives a stream's archiver. */
  async ensure(config: ConsumerConfig): Promise<void> {
    if (this.#stored?.id === config.id) await this.poke();
    else await this.configure(config);
  }

  /**
   * Wakes the consumer now (a publish happened); cheap and safe to call often. During a round it only marks
   * the object poked, and the round schedules the next one at once: no storage write, so no commit.
   */
  async poke(): Promise<void> {
    if (!this.#stored) return;
    this.#poked = true;
    if (this.#inFlight) return;
    this.#setEmptyPolls(0);
    const at = await this.ctx.storage.getAlarm();
    if (at === null || at > Date.now()) await this.ctx.storage.setAlarm(Date.now());
  }

  /** Lag, pending count, dead-letter size and last delivery time. */
  async status(): Promise<ConsumerStatus> {
    const config = this.#stored;
    if (!config) return { lag: null, pending: 0, dlqSize: 0, lastDeliveryAt: null };
    const gauges = await this.#refreshGauges(config);
    const lastDeliveryAt = this.#lastDeliveryAt ?? this.ctx.storage.kv.get<number>("lastDeliveryAt");
    return { ...gauges, lastDeliveryAt: lastDeliveryAt ? new Date(lastDeliveryAt).toISOString() : null };
  }

  /** One delivery round, then (`schedule`) the next alarm; joins the round in progress if there is one. */
  runRound(schedule = true): Promise<RoundReport> {
    this.#inFlight ??= this.#round(schedule).finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  /**
   * Delivery rounds run from the alarm. While a round leaves work (a full batch, or a poke during it), the
   * next one starts here at once: going through the alarm scheduler cost tens of milliseconds per round
   * under load. The alarm is set once the work runs out (or after {@link ALARM_LOOP_MS}); a crash meanwhile
   * leaves the current alarm unfinished, so the runtime runs it again. A round that fails is retried in 5 s;
   * one that finds its group gone (the stream was deleted, or Redis lost its data) creates the group again
   * from the stream's start.
   */
  override async alarm(): Promise<void> {
    try {
      const started = Date.now();
      let report = await this.runRound(false);
      while (report.nextRunInMs === 0 && Date.now() - started < ALARM_LOOP_MS) report = await this.runRound(false);
      await this.#flushDeferredAcks();
      if (report.nextRunInMs >= 0) await this.ctx.storage.setAlarm(Date.now() + (this.#poked ? 0 : report.nextRunInMs));
    } catch (err) {
      await this.#recover(err);
    } finally {
      // A failed round may leave acknowledgements behind; without them the entries are redelivered later.
      await this.#flushDeferredAcks().catch(() => undefined);
      // This object may run in an isolate that serves no request, so it sends its metrics itself.
      await flushMetricsIfDue(workerMetrics, this.env);
    }
  }

  /** After a failed alarm: recreate a lost group from the stream's start, else retry in 5 s. */
  async #recover(err: unknown): Promise<void> {
    const config = this.#stored;
    if (config && err instanceof Error && err.message.includes("NOGROUP")) {
      log.warn("consumer group missing; creating it again from the start of the stream", { stream: config.stream, group: config.group });
      await createGroup(this.#redis, config, "0");
      await this.ctx.storage.setAlarm(Date.now());
      return;
    }
    log.error("delivery round failed", { ...errorFields(err) });
    await this.ctx.storage.setAlarm(Date.now() + 5000);
  }

  /** One round: retries and dead letters from the pending list, new entries, one delivery, then what comes next. */
  async #round(schedule: boolean): Promise<RoundReport> {
    const config = this.#stored;
    if (!config) return UNCONFIGURED;
    this.#poked = false;
    const checkPending = shouldReadPending(this.#memory, Date.now());
    // Until this round ends well, a failure anywhere in it may have left entries pending.
    this.#memory.mayHavePending = true;
    const pending = checkPending ? await this.#readPending(config) : [];
    const plan = planRetries(pending, config);
    await this.#deadLetterAll(config, plan.deadLetter);
    const me = consumerName(this.ctx.id.toString());
    const redelivered = await claim(this.#redis, config, me, plan.redeliver, pending);
    if (redelivered.length > 0) eventMetrics.redeliveries.inc(labelsOf(config), redelivered.length);
    const room = config.batchSize - redelivered.length;
    const fresh = await this.#readNew(config, me, room);
    const batch: RawDelivery[] = [...redelivered, ...fresh.map((e) => ({ streamId: e.streamId, deliveryCount: 1, json: e.json }))];
    const results = batch.length > 0 ? await this.#deliver(config, batch) : new Map<string, { ok: boolean }>();
    const acked = batch.filter((d) => results.get(d.streamId)?.ok).map((d) => d.streamId);
    const facts = { plan, pendingRead: pending.length, claimed: redelivered.length, room, read: fresh.length, poked: this.#poked };
    const next = nextRound(
      { ...facts, delivered: acked.length, failed: batch.length - acked.length, emptyPolls: this.#getEmptyPolls() },
      config,
      this.#memory,
      Date.now(),
    );
    // In an alarm's loop, when the next round starts at once, its read carries these acknowledgements.
    if (!schedule && next.busy) this.#deferredAcks = acked;
    else await acknowledge(this.#redis, config, acked);
    await this.#settle(config, next);
    if (schedule) await this.ctx.storage.setAlarm(Date.now() + (this.#poked ? 0 : next.nextRunInMs));
    return {
      delivered: acked.length,
      failed: batch.length - acked.length,
      redelivered: redelivered.length,
      deadLettered: plan.deadLetter.length,
      nextRunInMs: this.#poked ? 0 : next.nextRunInMs,
    };
  }

  /** Reads the pending list, with any deferred acknowledgements sent first so it does not list them. */
  async #readPending(config: ConsumerConfig): Promise<PendingEntry[]> {
    await this.#flushDeferredAcks();
    const pending = await readPending(this.#redis, config);
    this.#memory.pendingCheckedAt = Date.now();
    return pending;
  }

  /** Reads new entries into the room the redeliveries left, carrying the deferred acknowledgements. */
  async #readNew(config: ConsumerConfig, me: string, room: number) {
    if (room <= 0) {
      await this.#flushDeferredAcks();
      return [];
    }
    const fresh = await readNew(this.#redis, config, me, room, this.#deferredAcks);
    this.#deferredAcks = [];
    return fresh;
  }

  /** Dead-letters exhausted entries, each with the last error its deliveries recorded. */
  async #deadLetterAll(config: ConsumerConfig, dead: readonly PendingEntry[]): Promise<void> {
    for (const entry of dead) {
      const lastError = this.ctx.storage.kv.get<string>(`error:${entry.streamId}`) ?? "unknown";
      await writeDeadLetter(this.#redis, config, entry, lastError);
      this.ctx.storage.kv.delete(`error:${entry.streamId}`);
      log.warn("dead-lettered", { ...labelsOf(config), streamId: entry.streamId, deliveries: entry.deliveries, lastError });
    }
    if (dead.length > 0) eventMetrics.deliveries.inc({ ...labelsOf(config), outcome: "dead_lettered" }, dead.length);
  }

  /** Delivers one batch, then records each event's outcome (its error for the dead letter), metrics and a log line. */
  async #deliver(config: ConsumerConfig, batch: RawDelivery[]): Promise<Outcomes> {
    const started = Date.now();
    const results = await deliverBatch(this.env, config, batch);
    const now = Date.now();
    const latencies: number[] = [];
    let delivered = 0;
    for (const d of batch) {
      const r = results.get(d.streamId);
      if (r?.ok) {
        delivered++;
        if (d.deliveryCount > 1) this.ctx.storage.kv.delete(`error:${d.streamId}`);
        latencies.push(Math.max(0, now - streamIdMs(d.streamId)) / 1000);
      } else this.ctx.storage.kv.put(`error:${d.streamId}`, r?.error ?? "unknown");
    }
    const labels = labelsOf(config);
    const failed = batch.length - delivered;
    eventMetrics.latency.observeMany(labels, latencies);
    if (delivered > 0) eventMetrics.deliveries.inc({ ...labels, outcome: "ok" }, delivered);
    if (failed > 0) eventMetrics.deliveries.inc({ ...labels, outcome: "failed" }, failed);
    this.#noteDelivery(now);
    log.info("delivery", {
      ...labels,
      target: targetName(config.target),
      events: batch.length,
      delivered,
      failed,
      redelivered: batch.filter((d) => d.deliveryCount > 1).length,
      durationMs: now - started,
      correlationIds: correlationIdsOf(batch),
    });
    return results;
  }

  /** Keeps what the next round needs: the planner's memory, the empty-poll count, and the gauges when due. */
  async #settle(config: ConsumerConfig, next: NextRound): Promise<void> {
    this.#memory = next.memory;
    this.#setEmptyPolls(next.emptyPolls);
    if (next.refreshGauges) await this.#refreshGauges(config);
  }

  #noteDelivery(now: number): void {
    this.#lastDeliveryAt = now;
    if (now - this.#lastDeliveryWrittenAt < LAST_DELIVERY_WRITE_MS) return;
    this.ctx.storage.kv.put("lastDeliveryAt", now);
    this.#lastDeliveryWrittenAt = now;
  }

  #getEmptyPolls(): number {
    return (this.#emptyPolls ??= this.ctx.storage.kv.get<number>("emptyPolls") ?? 0);
  }

  #setEmptyPolls(n: number): void {
    if (this.#getEmptyPolls() === n) return;
    this.#emptyPolls = n;
    this.ctx.storage.kv.put("emptyPolls", n);
  }

  /** Sends the acknowledgements a round deferred (see {@link StreamConsumer.#deferredAcks}). */
  async #flushDeferredAcks(): Promise<void> {
    const config = this.#stored;
    if (!config || this.#deferredAcks.length === 0) return;
    await acknowledge(this.#redis, config, this.#deferredAcks);
    this.#deferredAcks = [];
  }

  /** Reads the group's lag and pending count and the dead-letter size into the gauges, and returns them. */
  async #refreshGauges(config: ConsumerConfig): Promise<Omit<ConsumerStatus, "lastDeliveryAt">> {
    const gauges = await readGauges(this.#redis, config);
    const labels = labelsOf(config);
    if (gauges.lag !== null) eventMetrics.lag.set(labels, gauges.lag);
    eventMetrics.pending.set(labels, gauges.pending);
    eventMetrics.deadLetters.set({ stream: config.stream }, gauges.dlqSize);
    this.#memory = { ...this.#memory, gaugesAt: Date.now(), gaugesStale: false };
    return gauges;
  }
}

/** The metric labels of a consumer. */
function labelsOf(config: ConsumerConfig): { stream: string; group: string } {
  return { stream: config.stream, group: config.group };
}
