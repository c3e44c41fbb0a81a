import { DurableObject } from "cloudflare:workers";
import {
  deadLetterStream,
  DELIVERY_PATH,
  idlePollDelayMs,
  outcomes,
  parseEntries,
  planRetries,
  signDelivery,
  SIGNATURE_HEADER,
  type Delivery,
  type PendingEntry,
  type StoredEvent,
  type SubscriptionConfig,
} from "@foundation/event-bus";
import { createLogger, errorFields, redisFrom } from "@foundation/service-kit";
import { serviceBinding } from "../forward.ts";

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

const log = createLogger({ service: "gateway", component: "stream-consumer" });

/**
 * Drives one (stream, group): each alarm round redelivers due pending entries (dead-lettering those
 * past maxDeliveries: dead letter written first, then acknowledged), reads new entries with XREADGROUP
 * COUNT (never BLOCK: Upstash's REST API cannot block), delivers them as one signed batch, acknowledges
 * the successes, and schedules the next round: at once while there is backlog, at the next retry due
 * time, or backing off while idle until a publish pokes it. One object is the group's only consumer,
 * and alarms never overlap, so an event is never handled by two consumers at once.
 */
export class StreamConsumer extends DurableObject<Env> {
  private get config(): SubscriptionConfig | undefined {
    return this.ctx.storage.kv.get<SubscriptionConfig>("config");
  }

  /** The stable consumer name this object reads as. */
  private get consumerName(): string {
    return `do-${this.ctx.id.toString().slice(0, 16)}`;
  }

  /** Stores the subscription, creates the consumer group if needed and starts delivering. */
  async configure(config: SubscriptionConfig): Promise<void> {
    const redis = redisFrom(this.env);
    try {
      await redis.xgroup(config.stream, {
        type: "CREATE",
        group: config.group,
        id: config.startAt === "beginning" ? "0" : "$",
        options: { MKSTREAM: true },
      });
    } catch (err) {
      if (!(err instanceof Error) || !err.message.includes("BUSYGROUP")) throw err;
    }
    this.ctx.storage.kv.put("config", config);
    this.ctx.storage.kv.put("emptyPolls", 0);
    await this.ctx.storage.setAlarm(Date.now());
  }

  /** Wakes the consumer now (a publish happened); cheap and safe to call often. */
  async poke(): Promise<void> {
    if (!this.config) return;
    const at = await this.ctx.storage.getAlarm();
    this.ctx.storage.kv.put("emptyPolls", 0);
    if (at === null || at > Date.now()) await this.ctx.storage.setAlarm(Date.now());
  }

  /** Lag, pending count, dead-letter size and last delivery time. */
  async status(): Promise<ConsumerStatus> {
    const config = this.config;
    if (!config) return { lag: null, pending: 0, dlqSize: 0, lastDeliveryAt: null };
    const redis = redisFrom(this.env);
    const [groups, dlqSize] = await Promise.all([
      redis.xinfo(config.stream, { type: "GROUPS" }),
      redis.xlen(deadLetterStream(config.stream)),
    ]);
    const group = (groups as unknown[][]).map(fieldsOf).find((g) => g.name === config.group);
    const lastDeliveryAt = this.ctx.storage.kv.get<number>("lastDeliveryAt");
    return {
      lag: group?.lag === null || group?.lag === undefined ? null : Number(group.lag),
      pending: Number(group?.pending ?? 0),
      dlqSize,
      lastDeliveryAt: lastDeliveryAt ? new Date(lastDeliveryAt).toISOString() : null,
    };
  }

  /** One delivery round, then the next alarm. Exposed for tests, which run rounds without waiting. */
  async runRound(): Promise<RoundReport> {
    const config = this.config;
    if (!config) return { delivered: 0, failed: 0, redelivered: 0, deadLettered: 0, nextRunInMs: -1 };
    const redis = redisFrom(this.env);
    const report: RoundReport = { delivered: 0, failed: 0, redelivered: 0, deadLettered: 0, nextRunInMs: 0 };

    const rawPending = (await redis.xpending(config.stream, config.group, "-", "+", config.batchSize)) as Array<
      [string, string, number, number]
    >;
    const pending: PendingEntry[] = rawPending.map(([streamId, , idleMs, deliveries]) => ({
      streamId,
      idleMs: Number(idleMs),
      deliveries: Number(deliveries),
    }));
    const plan = planRetries(pending, config);

    for (const dead of plan.deadLetter) {
      const [entry] = parseEntries(await redis.xrange(config.stream, dead.streamId, dead.streamId));
      const lastError = this.ctx.storage.kv.get<string>(`error:${dead.streamId}`) ?? "unknown";
      await redis.xadd(deadLetterStream(config.stream), "*", {
        originalId: dead.streamId,
        group: config.group,
        deliveries: String(dead.deliveries),
        lastError,
        event: entry ? JSON.stringify(entry.event) : "",
      });
      await redis.xack(config.stream, config.group, dead.streamId);
      this.ctx.storage.kv.delete(`error:${dead.streamId}`);
      report.deadLettered++;
      log.warn("dead-lettered", {
        stream: config.stream,
        group: config.group,
        streamId: dead.streamId,
        deliveries: dead.deliveries,
        lastError,
      });
    }

    const batch: Delivery[] = [];
    if (plan.redeliver.length > 0) {
      const claimed = parseEntries(await redis.xclaim(config.stream, config.group, this.consumerName, 0, plan.redeliver));
      const counts = new Map(pending.map((p) => [p.streamId, p.deliveries + 1]));
      for (const e of claimed) batch.push({ streamId: e.streamId, deliveryCount: counts.get(e.streamId) ?? 2, event: e.event });
      report.redelivered = claimed.length;
    }
    const room = config.batchSize - batch.length;
    let fresh: StoredEvent[] = [];
    if (room > 0) {
      const read = (await redis.xreadgroup(config.group, this.consumerName, config.stream, ">", { count: room })) as Array<
        [string, unknown]
      > | null;
      fresh = parseEntries(read?.[0]?.[1] ?? []);
      for (const e of fresh) batch.push({ streamId: e.streamId, deliveryCount: 1, event: e.event });
    }

    if (batch.length > 0) {
      const results = await this.deliver(config, batch);
      const acked = batch.filter((d) => results.get(d.streamId)?.ok).map((d) => d.streamId);
      if (acked.length > 0) await redis.xack(config.stream, config.group, acked);
      for (const d of batch) {
        const r = results.get(d.streamId);
        if (r?.ok) this.ctx.storage.kv.delete(`error:${d.streamId}`);
        else this.ctx.storage.kv.put(`error:${d.streamId}`, r?.error ?? "unknown");
      }
      report.delivered = acked.length;
      report.failed = batch.length - acked.length;
      this.ctx.storage.kv.put("lastDeliveryAt", Date.now());
    }

    const backlog = fresh.length === room && room > 0;
    const emptyPolls = batch.length === 0 && plan.deadLetter.length === 0 ? (this.ctx.storage.kv.get<number>("emptyPolls") ?? 0) + 1 : 0;
    this.ctx.storage.kv.put("emptyPolls", emptyPolls);
    const retryWait = report.failed > 0 ? config.retryBackoffMs : plan.nextDueInMs;
    report.nextRunInMs = backlog ? 0 : Math.min(retryWait ?? Infinity, idlePollDelayMs(emptyPolls));
    await this.ctx.storage.setAlarm(Date.now() + report.nextRunInMs);
    return report;
  }

  /** Delivery rounds run from the alarm; a failing round is retried by the runtime's alarm retries. */
  override async alarm(): Promise<void> {
    try {
      await this.runRound();
    } catch (err) {
      log.error("delivery round failed", { ...errorFields(err) });
      await this.ctx.storage.setAlarm(Date.now() + 5000);
    }
  }

  /** POSTs one signed batch to the target and reads per-event outcomes; any failure fails the whole batch. */
  private async deliver(config: SubscriptionConfig, deliveries: Delivery[]): Promise<Map<string, { ok: boolean; error?: string }>> {
    const ids = deliveries.map((d) => d.streamId);
    const body = JSON.stringify({ stream: config.stream, group: config.group, deliveries });
    const headers = new Headers({
      "content-type": "application/json",
      [SIGNATURE_HEADER]: await signDelivery(this.env.EVENT_SIGNING_SECRET, body, Date.now()),
    });
    const correlationId = deliveries[0]?.event.correlationid;
    if (correlationId) headers.set("X-Correlation-Id", correlationId);
    try {
      let res: Response;
      if ("service" in config.target) {
        const binding = serviceBinding(this.env, config.target.service);
        if (!binding) return outcomes(ids, 503, null);
        const url = `https://${config.target.service}.internal${DELIVERY_PATH}`;
        res = await binding.fetch(
          new Request(url, { method: "POST", headers, body, redirect: "manual", signal: AbortSignal.timeout(config.timeoutMs) }),
        );
      } else {
        res = await fetch(config.target.url, {
          method: "POST",
          headers,
          body,
          redirect: "manual",
          signal: AbortSignal.timeout(config.timeoutMs),
        });
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
