import type { Level, LogEntry } from "./entry.ts";

/** What a line of a trace stands for. */
export type StepKind = "request" | "service-call" | "publish" | "delivery" | "handler" | "exception" | "log";

/** One step of a request's way through the system. */
export interface TraceStep {
  kind: StepKind;
  /** When the step began: a request line's time less its duration (the kit writes it when the answer is ready). */
  startedAt: number;
  durationMs: number | null;
  service: string;
  level: Level;
  msg: string;
  /** What the step did, in a few words: `POST /api/example/greetings → 202`. */
  summary: string;
  traceId: string | null;
  fields: Record<string, unknown>;
}

/** A request and everything it caused, in time order. */
export interface Trace {
  correlationId: string;
  startedAt: number;
  endedAt: number;
  services: string[];
  traceIds: string[];
  steps: TraceStep[];
}

/** The path of the kit's delivery endpoint (the event bus's `DELIVERY_PATH`), where services receive events. */
const DELIVERY_PATH = "/_foundation/events";
const PUBLISH_ROUTE = /^\/api\/foundation\/events\/:stream(\/batch)?$/;

const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
const text = (v: unknown) => (typeof v === "string" ? v : typeof v === "number" ? String(v) : "");

function kindOf(e: LogEntry): StepKind {
  const f = e.fields;
  if (e.msg === "uncaught exception") return "exception";
  if (e.msg === "delivery") return "delivery";
  if (e.msg === "event handled" || e.msg === "event handler failed") return "handler";
  if (e.msg !== "request") return "log";
  if (f.method === "POST" && PUBLISH_ROUTE.test(text(f.route))) return "publish";
  if (f.path === DELIVERY_PATH) return "delivery";
  return e.service === "gateway" ? "request" : "service-call";
}

function summaryOf(kind: StepKind, e: LogEntry): string {
  const f = e.fields;
  switch (kind) {
    case "request":
    case "service-call":
    case "publish":
      if (e.msg === "request") return `${text(f.method)} ${text(f.path)} → ${text(f.status)}`.trim();
      break;
    case "delivery":
      if (e.msg === "request") return `received ${text(f.method)} ${text(f.path)} → ${text(f.status)}`;
      return `${text(f.stream)}/${text(f.group)} → ${text(f.target)}: ${text(f.delivered)} delivered, ${text(f.failed)} failed${
        num(f.redelivered) ? `, ${text(f.redelivered)} redelivered` : ""
      }`;
    case "handler":
      return `${text(f.stream)} ${text(f.eventId)} attempt ${text(f.deliveryCount)}: ${e.level === "error" ? `failed: ${text(f.error)}` : "ok"}`;
    case "exception":
      return `${text(f.errorName)}: ${text(f.error)}`;
    case "log":
      break;
  }
  return e.msg;
}

/**
 * The trace of `correlationId` from its collected lines: each line as a step (the gateway's request, the services'
 * requests, publishes, delivery rounds and their requests, handler outcomes, exceptions, other lines) in the order
 * the steps began; of steps that began together the enclosing one (it ended later) first, then the order the lines
 * were written.
 * @example assembleTrace("req-1", entries).steps.map((s) => s.kind) // ["request", "service-call", "publish", "delivery", "handler"]
 */
export function assembleTrace(correlationId: string, entries: readonly LogEntry[]): Trace {
  const steps = entries
    .map((e, order) => {
      const kind = kindOf(e);
      const durationMs = num(e.fields.durationMs) ?? null;
      const startedAt = e.ts - (durationMs ?? 0);
      const step: TraceStep = {
        kind,
        startedAt,
        durationMs,
        service: e.service,
        level: e.level,
        msg: e.msg,
        summary: summaryOf(kind, e),
        traceId: e.traceId,
        fields: e.fields,
      };
      return { step, order, endedAt: e.ts };
    })
    // Of two steps that began in the same millisecond, the one that ended later encloses the other and comes first.
    .sort((a, b) => a.step.startedAt - b.step.startedAt || b.endedAt - a.endedAt || a.order - b.order);
  return {
    correlationId,
    startedAt: steps[0]?.step.startedAt ?? 0,
    endedAt: Math.max(0, ...steps.map((s) => s.endedAt)),
    services: [...new Set(steps.map((s) => s.step.service))],
    traceIds: [...new Set(steps.map((s) => s.step.traceId).filter((t): t is string => t !== null))],
    steps: steps.map((s) => s.step),
  };
}
