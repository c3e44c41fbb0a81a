import { DurableObject } from "cloudflare:workers";
import { configReader, createLogger, errorFields, flushMetricsIfDue, redisFrom, workerMetrics, type Redis } from "@foundation/core";
import { firstRetryDueInMs, planRetries, type PendingEntry } from "../backoff.ts";
import { StreamVars, streamSettingsOf } from "../config.ts";
import type { RawDelivery } from "../delivery.ts";
import type { EventBusEnv } from "../env.ts";
import { eventMetrics } from "../metrics.ts";
import { DEFAULT_MAX_BATCH_BYTES, type ConsumerConfig } from "../subscription.ts";
import { removeGoneSubscription } from "../subscriptions.ts";
import { deliverBatch, type BatchOutcome } from "./deliver.ts";
import { goneExpired, goneExpiresAt } from "./gone.ts";
import { labelsOf, recordOutcome } from "./outcomes.ts";
import { consumerName, type ConsumerGauges, type ConsumerStatus, type Paused, type RoundReport } from "./types.ts";
import {
  acknowledge,
  claim,
  createGroup,
  destroyGroup,
  forgiveAttempts,
  readGauges,
  readNew,
  readPending,
  writeDeadLetter,
} from "./redis-steps.ts";
import { batchLimitAfter, freshMemory, nextRound, shouldReadPending, type NextRound, type RoundMemory } from "./round.ts";

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
/** The streams' settings of the worker running the consumers: a consumer whose subscription expires needs its partitions. */
const streamSettings = configReader(StreamVars, streamSettingsOf);

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
  /** Until when the target asked not to be called (`Retry-After`); in memory, a restart only calls it sooner. */
  #throttledUntil = 0;
  /** The batch size now: lower than configured while the target throttles (see `batchLimitAfter`). */
  #batchLimit: number | undefined;

  get #redis(): Redis {
    return redisFrom(this.env);
  }

  get #stored(): Readonly<ConsumerConfig> | undefined {
    if (this.#config === null) {
      const stored = this.ctx.storage.kv.get<ConsumerConfig>("config");
      // Settings added after a subscription was stored take their defaults.
      this.#config =
        stored === undefined
          ? undefined
          : Object.freeze({ ...stored, mode: stored.mode ?? "batch", maxBatchBytes: stored.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES });
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

  /** Replaces the stored subscription (a rotated secret, say) without touching the group or the schedule. */
  async update(config: ConsumerConfig): Promise<void> {
    this.ctx.storage.kv.put("config", config);
    this.#config = null;
    await Promise.resolve();
  }

  /**
   * Stops delivering until {@link StreamConsumer.resume}: events wait in the stream, nothing is dead-lettered. An
   * operator's pause lasts until resumed, however long.
   */
  async pause(reason: string): Promise<void> {
    await this.#pause({ reason, at: Date.now() });
  }

  /**
   * Stores the pause. One for 410 Gone sets the alarm for when the subscription expires (see `goneExpiresAt`);
   * the alarm then deletes it unless it was resumed (or paused by an operator) meanwhile.
   */
  async #pause(paused: Paused): Promise<void> {
    const config = this.#stored;
    if (!config) return;
    this.ctx.storage.kv.put<Paused>("paused", paused);
    eventMetrics.paused.set(labelsOf(config), 1);
    const expiresAt = goneExpiresAt(paused);
    log.warn("subscription paused", {
      ...labelsOf(config),
      reason: paused.reason,
      ...(expiresAt === null ? {} : { deletedAt: new Date(expiresAt).toISOString() }),
    });
    if (expiresAt === null) await this.ctx.storage.deleteAlarm();
    else await this.ctx.storage.setAlarm(expiresAt);
  }

  /** Delivers again from where the consumer stopped; a pending deletion for 410 Gone is called off. */
  async resume(): Promise<void> {
    const config = this.#stored;
    if (!config) return;
    this.ctx.storage.kv.delete("paused");
    eventMetrics.paused.set(labelsOf(config), 0);
    this.#throttledUntil = 0;
    this.#memory = freshMemory();
    await this.ctx.storage.setAlarm(Date.now());
  }

  /** Forgets the subscription: the group leaves the stream and the object's storage is emptied. */
  async remove(): Promise<void> {
    const config = this.#stored;
    if (config) {
      await destroyGroup(this.#redis, config);
      for (const gauge of [eventMetrics.paused, eventMetrics.lag, eventMetrics.pending]) gauge.remove(labelsOf(config));
    }
    await this.ctx.storage.deleteAlarm();
    await this.ctx.storage.deleteAll();
    this.#config = undefined;
  }

  /** Configures the object on first use and pokes it afterwards: how a publish drives a stream's archiver. */
  async ensure(config: ConsumerConfig): Promise<void> {
    if (this.#stored?.id === config.id) await this.poke();
    else await this.configure(config);
  }

  /**
   * Wakes the consumer now (a publish happened); cheap and safe to call often. During a round it only marks
   * the object poked, and the round schedules the next one at once: no storage write, so no commit. Answers
   * false when the object has no consumer (never configured, or removed since).
   */
  async poke(): Promise<boolean> {
    if (!this.#stored) return false;
    if (this.#paused()) return true;
    this.#poked = true;
    if (this.#inFlight) return true;
    this.#setEmptyPolls(0);
    const at = await this.ctx.storage.getAlarm();
    if (at === null || at > Date.now()) await this.ctx.storage.setAlarm(Date.now());
    return true;
  }

  /** Lag, pending count, dead-letter size and last delivery time. */
  async status(): Promise<ConsumerStatus> {
    const config = this.#stored;
    if (!config) return { state: "active", lag: null, pending: 0, dlqSize: 0, lastDeliveryAt: null };
    const gauges = await this.#refreshGauges(config);
    const lastDeliveryAt = this.#lastDeliveryAt ?? this.ctx.storage.kv.get<number>("lastDeliveryAt");
    const paused = this.#paused();
    return {
      state: paused ? "paused" : "active",
      ...(paused ? { pausedReason: paused.reason } : {}),
      ...gauges,
      lastDeliveryAt: lastDeliveryAt ? new Date(lastDeliveryAt).toISOString() : null,
    };
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
   * from the stream's start. A paused consumer delivers nothing: its alarm only deletes an expired subscription.
   */
  override async alarm(): Promise<void> {
    try {
      const paused = this.#paused();
      if (paused) {
        await this.#expire(paused);
        return;
      }
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

  /**
   * The alarm of a paused consumer. Paused for 410 Gone past its expiry, the subscription is deleted: the other
   * partitions' consumers and the row (see `removeGoneSubscription`), then this object's group and storage, as
   * {@link StreamConsumer.remove} does. An alarm that comes before the expiry is set again for it; an operator's
   * pause has none.
   */
  async #expire(paused: Paused): Promise<void> {
    const config = this.#stored;
    const expiresAt = goneExpiresAt(paused);
    if (!config || expiresAt === null) return;
    if (!goneExpired(paused, Date.now())) {
      await this.ctx.storage.setAlarm(expiresAt);
      return;
    }
    log.warn("subscription deleted: its target has been gone since it paused", {
      ...labelsOf(config),
      id: config.id,
      pausedAt: new Date(paused.at).toISOString(),
    });
    await removeGoneSubscription(this.env, streamSettings(this.env).partitions, config);
    await this.remove();
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
    if (!config || this.#paused()) return UNCONFIGURED;
    const wait = this.#throttledUntil - Date.now();
    if (wait > 0) return { ...UNCONFIGURED, nextRunInMs: wait };
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
    const room = this.#limit(config) - redelivered.length;
    const fresh = await this.#readNew(config, me, room);
    const read: RawDelivery[] = [...redelivered, ...fresh.map((e) => ({ ...e, deliveryCount: 1 }))];
    // A redrive's entry for another group is acknowledged without being delivered here.
    const batch = read.filter((d) => d.group === undefined || d.group === config.group);
    const outcome: BatchOutcome = batch.length > 0 ? await this.#deliver(config, batch) : { results: new Map() };
    const { results } = outcome;
    const skipped = batch.length === read.length ? [] : read.filter((d) => d.group !== undefined && d.group !== config.group);
    const acked = [...batch.filter((d) => results.get(d.streamId)?.ok).map((d) => d.streamId), ...skipped.map((d) => d.streamId)];
    const delivered = acked.length - skipped.length;
    const failures = batch.filter((d) => results.get(d.streamId)?.ok === false);
    const failed = failures.length;
    if (outcome.gone !== undefined || outcome.throttledMs !== undefined) {
      await acknowledge(this.#redis, config, acked);
      await this.#holdBack(
        config,
        me,
        batch.filter((d) => !results.has(d.streamId)),
        outcome,
      );
      return {
        delivered,
        failed,
        redelivered: redelivered.length,
        deadLettered: plan.deadLetter.length,
        nextRunInMs: outcome.gone ? -1 : (outcome.throttledMs ?? 0),
      };
    }
    const retryDueInMs = firstRetryDueInMs(
      failures.map((d) => ({ streamId: d.streamId, deliveries: d.deliveryCount })),
      config,
    );
    const facts = {
      plan,
      pendingRead: pending.length,
      claimed: redelivered.length,
      room,
      read: fresh.length,
      poked: this.#poked,
      retryDueInMs,
    };
    const next = nextRound({ ...facts, delivered, failed, emptyPolls: this.#getEmptyPolls() }, config, this.#memory, Date.now());
    // In an alarm's loop, when the next round starts at once, its read carries these acknowledgements.
    if (!schedule && next.busy) this.#deferredAcks = acked;
    else await acknowledge(this.#redis, config, acked);
    await this.#settle(config, next);
    if (schedule) await this.ctx.storage.setAlarm(Date.now() + (this.#poked ? 0 : next.nextRunInMs));
    return {
      delivered,
      failed,
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

  /**
   * After an attempt the target throttled or refused as gone: the events it did not answer for keep their delivery
   * counts (being asked to wait is not a failed delivery) and stay pending; a throttle halves the batch size and
   * waits at least what the target asked, a 410 pauses the subscription until it is resumed or, after
   * `SUBSCRIPTION_GONE_RETENTION_DAYS`, deleted.
   */
  async #holdBack(config: ConsumerConfig, me: string, unanswered: readonly RawDelivery[], outcome: BatchOutcome): Promise<void> {
    await forgiveAttempts(this.#redis, config, me, unanswered);
    this.#memory.mayHavePending = true;
    if (outcome.gone !== undefined) {
      await this.#pause({ reason: outcome.gone, at: Date.now(), gone: true });
      return;
    }
    const waitMs = outcome.throttledMs ?? 0;
    this.#throttledUntil = Date.now() + waitMs;
    this.#batchLimit = batchLimitAfter(this.#limit(config), config.batchSize, "throttled");
    eventMetrics.throttled.inc(labelsOf(config));
    log.warn("delivery throttled by the target", { ...labelsOf(config), waitMs, events: unanswered.length, batchLimit: this.#batchLimit });
  }

  /** The batch size now: the configured one, or less while the target has been throttling. */
  #limit(config: ConsumerConfig): number {
    return Math.min(config.batchSize, this.#batchLimit ?? config.batchSize);
  }

  #paused(): Paused | undefined {
    return this.ctx.storage.kv.get<Paused>("paused");
  }

  /** Delivers one batch, then records each event's outcome: its error for the dead letter, metrics and a log line. */
  async #deliver(config: ConsumerConfig, batch: RawDelivery[]): Promise<BatchOutcome> {
    const started = Date.now();
    const outcome = await deliverBatch(this.env, config, batch);
    if (outcome.throttledMs === undefined && outcome.gone === undefined) {
      this.#batchLimit = batchLimitAfter(this.#limit(config), config.batchSize, "answered");
    }
    const now = Date.now();
    recordOutcome(this.ctx.storage.kv, config, batch, outcome.results, now - started, now);
    this.#noteDelivery(now);
    return outcome;
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
  async #refreshGauges(config: ConsumerConfig): Promise<ConsumerGauges> {
    const gauges = await readGauges(this.#redis, config);
    const labels = labelsOf(config);
    if (gauges.lag !== null) eventMetrics.lag.set(labels, gauges.lag);
    eventMetrics.pending.set(labels, gauges.pending);
    eventMetrics.deadLetters.set({ stream: config.stream }, gauges.dlqSize);
    this.#memory = { ...this.#memory, gaugesAt: Date.now(), gaugesStale: false };
    return gauges;
  }
}
