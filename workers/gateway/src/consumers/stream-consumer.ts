import { DurableObject } from "cloudflare:workers";
import {
  correlationIdOf,
  deadLetterStream,
  DELIVERY_PATH,
  deliveryBody,
  idlePollDelayMs,
  outcomes,
  parseStoredEvent,
  planRetries,
  rawEntries,
  signDelivery,
  SIGNATURE_HEADER,
  type ConsumerConfig,
  type Delivery,
  type PendingEntry,
  type RawDelivery,
  type RawEntry,
} from "@foundation/event-bus";
import { createLogger, errorFields, flushMetricsIfDue, redisFrom, workerMetrics } from "@foundation/core";
import { archiveDeliveries, streamIdMs, type Outcomes } from "../event-store.ts";
import { serviceBinding } from "@foundation/core";
import { eventMetrics } from "../metrics.ts";

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

/** While a consumer is delivering, its lag and pending gauges are refreshed at most this often (and once when it goes idle). */
const GAUGE_REFRESH_MS = 5000;
/**
 * While rounds leave nothing pending, the group's pending list is still read this often: it may hold entries
 * of another consumer name (one that read them and was then replaced), and they must not wait forever.
 */
const PENDING_CHECK_MS = 5000;
/**
 * How long one alarm keeps running rounds back to back while they leave work. Past it, the alarm returns
 * (flushing metrics) and the next alarm, set for now, carries on.
 */
const ALARM_LOOP_MS = 2000;
/** `lastDeliveryAt` (a status field) is written to storage at most this often; a write is a commit. */
const LAST_DELIVERY_WRITE_MS = 1000;

const log = createLogger({ service: "gateway", component: "stream-consumer" });

type Redis = ReturnType<typeof redisFrom>;

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

const NOT_JSON = "the stored event is not a JSON object";

/** Parses a batch for a target that needs the events themselves; an entry that is not JSON fails alone. */
function parsedDeliveries(batch: readonly RawDelivery[]): { parsed: Delivery[]; failed: Outcomes } {
  const parsed: Delivery[] = [];
  const failed: Outcomes = new Map();
  for (const d of batch) {
    const event = parseStoredEvent(d.json);
    if (event) parsed.push({ streamId: d.streamId, deliveryCount: d.deliveryCount, event });
    else failed.set(d.streamId, { ok: false, error: NOT_JSON });
  }
  return { parsed, failed };
}

/**
 * Drives one (stream, group): each alarm round redelivers due pending entries (dead-lettering those
 * past maxDeliveries: dead letter written first, then acknowledged), reads new entries with XREADGROUP
 * COUNT (never BLOCK: Upstash's REST API cannot block), delivers them as one signed batch (or, for a
 * stream's archiver, writes them into the Postgres event store), acknowledges the successes, and
 * schedules the next round: at once while there is backlog, at the next retry due time, or backing off
 * while idle until a publish pokes it. One object is the group's only consumer, and it runs one round at
 * a time, so an event is never handled by two consumers at once however slow its handler is.
 */
export class StreamConsumer extends DurableObject<Env> {
  /** The round in progress, if any: a second caller joins it instead of starting a parallel one. */
  private inFlight: Promise<RoundReport> | undefined;
  /** Set by a poke: a round that ends schedules the next one at once instead of its idle or retry wait. */
  private poked = false;

  /** The stored subscription, read once per object lifetime (a storage read per round showed in profiles). */
  #config: Readonly<ConsumerConfig> | undefined | null = null;
  /**
   * Whether the group may hold pending entries this object has not handled: true until a round of this object's
   * lifetime has read the pending list and left nothing behind, and again after any failure. While false, rounds
   * skip XPENDING (one Upstash command and round trip per round) except every {@link PENDING_CHECK_MS}.
   */
  #mayHavePending = true;
  /** When this object last read the pending list (real clock; tests move it back to skip the wait). */
  pendingCheckedAt = 0;
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
  /** When the gauges were last refreshed (in memory: it only spaces refreshes out, and a storage read per round showed). */
  #gaugesAt = 0;
  /** Whether deliveries happened since the gauges were last refreshed. */
  #gaugesStale = false;

  private get config(): Readonly<ConsumerConfig> | undefined {
    if (this.#config === null) {
      const stored = this.ctx.storage.kv.get<ConsumerConfig>("config");
      this.#config = stored === undefined ? undefined : Object.freeze(stored);
    }
    return this.#config;
  }

  /** Stores the subscription, creates the consumer group if needed and starts delivering. */
  async configure(config: ConsumerConfig): Promise<void> {
    await this.createGroup(redisFrom(this.env), config, config.startAt === "beginning" ? "0" : "$");
    this.ctx.storage.kv.put("config", config);
    this.#config = Object.freeze({ ...config });
    this.#mayHavePending = true;
    this.#setEmptyPolls(0);
    await this.ctx.storage.setAlarm(Date.now());
  }

  /** Configures the object on first use and pokes it afterwards: how the gateway drives a stream's archiver. */
  async ensure(config: ConsumerConfig): Promise<void> {
    if (this.config?.id === config.id) await this.poke();
    else await this.configure(config);
  }

  /**
   * Wakes the consumer now (a publish happened); cheap and safe to call often. During a round it only marks
   * the object poked, and the round schedules the next one at once: no storage write, so no commit.
   */
  async poke(): Promise<void> {
    if (!this.config) return;
    this.poked = true;
    if (this.inFlight) return;
    this.#setEmptyPolls(0);
    const at = await this.ctx.storage.getAlarm();
    if (at === null || at > Date.now()) await this.ctx.storage.setAlarm(Date.now());
  }

  #getEmptyPolls(): number {
    return (this.#emptyPolls ??= this.ctx.storage.kv.get<number>("emptyPolls") ?? 0);
  }

  #setEmptyPolls(n: number): void {
    if (this.#getEmptyPolls() === n) return;
    this.#emptyPolls = n;
    this.ctx.storage.kv.put("emptyPolls", n);
  }

  /** Lag, pending count, dead-letter size and last delivery time. */
  async status(): Promise<ConsumerStatus> {
    const config = this.config;
    if (!config) return { lag: null, pending: 0, dlqSize: 0, lastDeliveryAt: null };
    const { lag, pending, dlqSize } = await this.refreshGauges(redisFrom(this.env), config);
    const lastDeliveryAt = this.#lastDeliveryAt ?? this.ctx.storage.kv.get<number>("lastDeliveryAt");
    return { lag, pending, dlqSize, lastDeliveryAt: lastDeliveryAt ? new Date(lastDeliveryAt).toISOString() : null };
  }

  /** One delivery round, then (`schedule`) the next alarm; joins the round in progress if there is one. */
  runRound(schedule = true): Promise<RoundReport> {
    this.inFlight ??= this.round(schedule).finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
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
      await this.flushDeferredAcks();
      if (report.nextRunInMs >= 0) await this.ctx.storage.setAlarm(Date.now() + (this.poked ? 0 : report.nextRunInMs));
    } catch (err) {
      const config = this.config;
      if (config && err instanceof Error && err.message.includes("NOGROUP")) {
        log.warn("consumer group missing; creating it again from the start of the stream", { stream: config.stream, group: config.group });
        await this.createGroup(redisFrom(this.env), config, "0");
        await this.ctx.storage.setAlarm(Date.now());
        return;
      }
      log.error("delivery round failed", { ...errorFields(err) });
      await this.ctx.storage.setAlarm(Date.now() + 5000);
    } finally {
      // A failed round may leave acknowledgements behind; without them the entries are redelivered later.
      await this.flushDeferredAcks().catch(() => undefined);
      // This object may run in an isolate that serves no request, so it sends its metrics itself.
      await flushMetricsIfDue(workerMetrics, this.env);
    }
  }

  /** Sends the acknowledgements a round deferred (see {@link StreamConsumer.#deferredAcks}). */
  private async flushDeferredAcks(): Promise<void> {
    const config = this.config;
    const ids = this.#deferredAcks;
    if (!config || ids.length === 0) return;
    await redisFrom(this.env).xack(config.stream, config.group, ids);
    this.#deferredAcks = [];
  }

  private async round(schedule: boolean): Promise<RoundReport> {
    const config = this.config;
    if (!config) return { delivered: 0, failed: 0, redelivered: 0, deadLettered: 0, nextRunInMs: -1 };
    const redis = redisFrom(this.env);
    const labels = { stream: config.stream, group: config.group };
    const report: RoundReport = { delivered: 0, failed: 0, redelivered: 0, deadLettered: 0, nextRunInMs: 0 };
    this.poked = false;

    const checkPending = this.#mayHavePending || Date.now() - this.pendingCheckedAt >= PENDING_CHECK_MS;
    // Until this round ends well, a failure anywhere in it may have left entries pending.
    this.#mayHavePending = true;
    let pending: PendingEntry[] = [];
    if (checkPending) {
      await this.flushDeferredAcks();
      const rawPending = (await redis.xpending(config.stream, config.group, "-", "+", config.batchSize)) as Array<
        [string, string, number, number]
      >;
      pending = rawPending.map(([streamId, , idleMs, deliveries]) => ({
        streamId,
        idleMs: Number(idleMs),
        deliveries: Number(deliveries),
      }));
      this.pendingCheckedAt = Date.now();
    }
    const plan = planRetries(pending, config);
    for (const dead of plan.deadLetter) await this.deadLetter(redis, config, dead);
    report.deadLettered = plan.deadLetter.length;
    if (report.deadLettered > 0) eventMetrics.deliveries.inc({ ...labels, outcome: "dead_lettered" }, report.deadLettered);

    const me = consumerName(this.ctx.id.toString());
    const batch: RawDelivery[] = [];
    if (plan.redeliver.length > 0) {
      const claimed = rawEntries(await redis.xclaim(config.stream, config.group, me, 0, plan.redeliver));
      const counts = new Map(pending.map((p) => [p.streamId, p.deliveries + 1]));
      for (const e of claimed) batch.push({ streamId: e.streamId, deliveryCount: counts.get(e.streamId) ?? 2, json: e.json });
      report.redelivered = claimed.length;
      if (claimed.length > 0) eventMetrics.redeliveries.inc(labels, claimed.length);
    }
    const room = config.batchSize - batch.length;
    let fresh: RawEntry[] = [];
    if (room > 0) {
      const acks = this.#deferredAcks;
      let read: unknown;
      if (acks.length > 0) {
        [, read] = await redis
          .pipeline()
          .xack(config.stream, config.group, acks)
          .xreadgroup(config.group, me, config.stream, ">", { count: room })
          .exec();
        this.#deferredAcks = [];
      } else read = await redis.xreadgroup(config.group, me, config.stream, ">", { count: room });
      fresh = rawEntries((read as Array<[string, unknown]> | null)?.[0]?.[1] ?? []);
      for (const e of fresh) batch.push({ streamId: e.streamId, deliveryCount: 1, json: e.json });
    } else await this.flushDeferredAcks();
    const backlog = fresh.length === room && room > 0;

    if (batch.length > 0) {
      const started = Date.now();
      const results = await this.deliver(config, batch);
      const acked = batch.filter((d) => results.get(d.streamId)?.ok).map((d) => d.streamId);
      // In an alarm's loop, when the next round starts at once, its read carries these acknowledgements.
      if (!schedule && (backlog || this.poked)) this.#deferredAcks = acked;
      else if (acked.length > 0) await redis.xack(config.stream, config.group, acked);
      const now = Date.now();
      const latencies: number[] = [];
      for (const d of batch) {
        const r = results.get(d.streamId);
        if (r?.ok) {
          if (d.deliveryCount > 1) this.ctx.storage.kv.delete(`error:${d.streamId}`);
          latencies.push(Math.max(0, now - streamIdMs(d.streamId)) / 1000);
        } else this.ctx.storage.kv.put(`error:${d.streamId}`, r?.error ?? "unknown");
      }
      eventMetrics.latency.observeMany(labels, latencies);
      report.delivered = acked.length;
      report.failed = batch.length - acked.length;
      if (report.delivered > 0) eventMetrics.deliveries.inc({ ...labels, outcome: "ok" }, report.delivered);
      if (report.failed > 0) eventMetrics.deliveries.inc({ ...labels, outcome: "failed" }, report.failed);
      this.#lastDeliveryAt = now;
      if (now - this.#lastDeliveryWrittenAt >= LAST_DELIVERY_WRITE_MS) {
        this.ctx.storage.kv.put("lastDeliveryAt", now);
        this.#lastDeliveryWrittenAt = now;
      }
      log.info("delivery", {
        ...labels,
        target: targetName(config.target),
        events: batch.length,
        delivered: report.delivered,
        failed: report.failed,
        redelivered: report.redelivered,
        durationMs: now - started,
        correlationIds: correlationIdsOf(batch),
      });
    }

    const active = batch.length > 0 || plan.deadLetter.length > 0;
    if (active) this.#gaugesStale = true;
    // Every few seconds while delivering, and once when a round finds nothing more: two commands per refresh.
    if (this.#gaugesStale && (!active || Date.now() - this.#gaugesAt >= GAUGE_REFRESH_MS)) await this.refreshGauges(redis, config);
    const emptyPolls = active ? 0 : this.#getEmptyPolls() + 1;
    this.#setEmptyPolls(emptyPolls);
    // Entries stay pending when an event failed, a retry is not due yet, a claim came back short, or the
    // pending list filled a whole page.
    this.#mayHavePending =
      report.failed > 0 ||
      pending.length !== plan.redeliver.length + plan.deadLetter.length ||
      report.redelivered !== plan.redeliver.length ||
      pending.length === config.batchSize;
    const retryWait = report.failed > 0 ? config.retryBackoffMs : plan.nextDueInMs;
    report.nextRunInMs = backlog || this.poked ? 0 : Math.min(retryWait ?? Infinity, idlePollDelayMs(emptyPolls));
    if (schedule) await this.ctx.storage.setAlarm(Date.now() + report.nextRunInMs);
    return report;
  }

  /** Creates the group at `id` (and the stream if missing); an existing group is left as it is. */
  private async createGroup(redis: Redis, config: ConsumerConfig, id: string): Promise<void> {
    try {
      await redis.xgroup(config.stream, { type: "CREATE", group: config.group, id, options: { MKSTREAM: true } });
    } catch (err) {
      if (!(err instanceof Error) || !err.message.includes("BUSYGROUP")) throw err;
    }
  }

  /**
   * Writes one exhausted entry to the dead-letter stream, then acknowledges it. A crash between the two
   * leaves the entry pending, so the next round writes it again: at worst a duplicate dead letter with
   * the same `originalId`, never a lost event.
   */
  private async deadLetter(redis: Redis, config: ConsumerConfig, dead: PendingEntry): Promise<void> {
    // The stored text as it is: a corrupt entry is dead-lettered like any other.
    const [entry] = rawEntries(await redis.xrange(config.stream, dead.streamId, dead.streamId));
    const lastError = this.ctx.storage.kv.get<string>(`error:${dead.streamId}`) ?? "unknown";
    await redis.xadd(deadLetterStream(config.stream), "*", {
      originalId: dead.streamId,
      group: config.group,
      deliveries: String(dead.deliveries),
      lastError,
      event: entry?.json ?? "",
    });
    await redis.xack(config.stream, config.group, dead.streamId);
    this.ctx.storage.kv.delete(`error:${dead.streamId}`);
    log.warn("dead-lettered", {
      stream: config.stream,
      group: config.group,
      streamId: dead.streamId,
      deliveries: dead.deliveries,
      lastError,
    });
  }

  /** Reads the group's lag and pending count and the dead-letter size into the gauges, and returns them. */
  private async refreshGauges(redis: Redis, config: ConsumerConfig): Promise<Omit<ConsumerStatus, "lastDeliveryAt">> {
    const [groups, dlqSize] = await Promise.all([
      redis.xinfo(config.stream, { type: "GROUPS" }),
      redis.xlen(deadLetterStream(config.stream)),
    ]);
    const group = (groups as unknown[][]).map(fieldsOf).find((g) => g.name === config.group);
    const lag = group?.lag === null || group?.lag === undefined ? null : Number(group.lag);
    const pending = Number(group?.pending ?? 0);
    const labels = { stream: config.stream, group: config.group };
    if (lag !== null) eventMetrics.lag.set(labels, lag);
    eventMetrics.pending.set(labels, pending);
    eventMetrics.deadLetters.set({ stream: config.stream }, dlqSize);
    this.#gaugesAt = Date.now();
    this.#gaugesStale = false;
    return { lag, pending, dlqSize };
  }

  /**
   * Hands one batch to the target and reads per-event outcomes. A first delivery is posted as the stream
   * stored it; an event delivered again is checked to be JSON first, so a corrupt entry (written to Redis by
   * something other than the bus) fails on its own and is dead-lettered, and its batch-mates go through.
   */
  private async deliver(config: ConsumerConfig, batch: RawDelivery[]): Promise<Outcomes> {
    if ("archive" in config.target) {
      const { parsed, failed } = parsedDeliveries(batch);
      const archived = await archiveDeliveries(this.env, config.stream, parsed);
      return new Map([...archived, ...failed]);
    }
    const failed: Outcomes = new Map();
    const sendable: RawDelivery[] = [];
    for (const d of batch) {
      if (d.deliveryCount === 1 || parseStoredEvent(d.json)) sendable.push(d);
      else failed.set(d.streamId, { ok: false, error: NOT_JSON });
    }
    if (sendable.length === 0) return failed;
    const posted = await this.post(config, config.target, sendable);
    return failed.size === 0 ? posted : new Map([...posted, ...failed]);
  }

  /** POSTs one signed batch to a service or URL; any failure of the request fails the whole batch. */
  private async post(config: ConsumerConfig, target: { service: string } | { url: string }, deliveries: RawDelivery[]): Promise<Outcomes> {
    const ids = deliveries.map((d) => d.streamId);
    // A partition's deliveries carry the topic's name: the service subscribed to the topic, not to a partition.
    const body = deliveryBody(config.topic ?? config.stream, config.group, deliveries);
    const headers = new Headers({
      "content-type": "application/json",
      [SIGNATURE_HEADER]: await signDelivery(this.env.EVENT_SIGNING_SECRET, body, Date.now()),
    });
    const correlationId = deliveries[0] ? correlationIdOf(deliveries[0].json) : undefined;
    if (correlationId) headers.set("X-Correlation-Id", correlationId);
    try {
      let res: Response;
      if ("service" in target) {
        const binding = serviceBinding(this.env, target.service);
        if (!binding) return outcomes(ids, 503, null);
        const url = `https://${target.service}.internal${DELIVERY_PATH}`;
        res = await binding.fetch(
          new Request(url, { method: "POST", headers, body, redirect: "manual", signal: AbortSignal.timeout(config.timeoutMs) }),
        );
      } else {
        res = await fetch(target.url, { method: "POST", headers, body, redirect: "manual", signal: AbortSignal.timeout(config.timeoutMs) });
      }
      const json: unknown = await res.json().catch(() => null);
      return outcomes(ids, res.status, json);
    } catch (err) {
      const error = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      return new Map(ids.map((id) => [id, { ok: false, error }]));
    }
  }
}

/** XINFO GROUPS answers flat [field, value, ...] arrays; this reads one into an object. */
function fieldsOf(flat: unknown[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[String(flat[i])] = flat[i + 1];
  return out;
}
