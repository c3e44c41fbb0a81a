import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { assembleTrace, LEVELS, LogQuery, searchLogs, traceLines } from "@foundation/logs";
import { HttpProblem, requireAuth, validationProblem } from "@foundation/service-kit";
import type { GatewayEnv } from "../env.ts";

const LogEntryView = z
  .object({
    ts: z.string().describe("When the line was written (ISO 8601)"),
    service: z.string(),
    level: z.enum(LEVELS as ["debug", "info", "warn", "error"]),
    msg: z.string(),
    correlationIds: z.array(z.string()),
    traceId: z.string().nullable(),
    fields: z.record(z.string(), z.unknown()),
  })
  .openapi("LogEntry");

const TraceStepView = z
  .object({
    kind: z.enum(["request", "service-call", "publish", "delivery", "handler", "exception", "log"]),
    startedAt: z.string(),
    durationMs: z.number().nullable(),
    service: z.string(),
    level: z.enum(LEVELS as ["debug", "info", "warn", "error"]),
    msg: z.string(),
    summary: z.string(),
    traceId: z.string().nullable(),
    fields: z.record(z.string(), z.unknown()),
  })
  .openapi("TraceStep");

const TraceView = z
  .object({
    correlationId: z.string(),
    startedAt: z.string(),
    endedAt: z.string(),
    services: z.array(z.string()),
    traceIds: z.array(z.string()),
    steps: z.array(TraceStepView),
  })
  .openapi("Trace");

const json = <T extends z.ZodType>(schema: T, description: string) => ({ description, content: { "application/json": { schema } } });
const bearer = [{ bearer: [] }];
const iso = (ms: number) => new Date(ms).toISOString();

const searchRoute = createRoute({
  method: "get",
  path: "/",
  summary: "Search every worker's collected log lines, newest first (admin or `logs` scope)",
  description: "Filters combine; `next` is the cursor of the following page. Lines arrive within seconds of being written.",
  security: bearer,
  request: { query: LogQuery },
  responses: {
    200: json(z.object({ entries: z.array(LogEntryView), next: z.string().nullable() }), "A page of lines"),
    400: { description: "A malformed filter, `since` after `until`, or `limit` above 500 (problem+json)" },
  },
});

const traceRoute = createRoute({
  method: "get",
  path: "/{correlationId}",
  summary:
    "One request end to end: the gateway request, service calls, publishes, deliveries and handler outcomes in time order (admin or `logs` scope)",
  security: bearer,
  request: { params: z.object({ correlationId: z.string().min(1).max(128) }) },
  responses: { 200: json(TraceView, "The trace"), 404: { description: "No collected line names this correlation ID" } },
});

const defaultHook = (result: { success: boolean; error?: unknown; target?: string }) => {
  if (!result.success) throw validationProblem(result.error as Parameters<typeof validationProblem>[0], result.target);
};

/** `/api/foundation/logs`: search the collected lines. */
export const logsRoutes = new OpenAPIHono<GatewayEnv>({ defaultHook });
logsRoutes.use(requireAuth({ anyOf: ["logs"] }));
logsRoutes.openapi(searchRoute, async (c) => {
  const page = await searchLogs(c.env, c.req.valid("query"));
  return c.json({ entries: page.entries.map(({ id: _id, ...e }) => ({ ...e, ts: iso(e.ts) })), next: page.next }, 200);
});

/** `/api/foundation/traces`: one correlation ID's lines from every worker, as a timeline. */
export const tracesRoutes = new OpenAPIHono<GatewayEnv>({ defaultHook });
tracesRoutes.use(requireAuth({ anyOf: ["logs"] }));
tracesRoutes.openapi(traceRoute, async (c) => {
  const { correlationId } = c.req.valid("param");
  const lines = await traceLines(c.env, correlationId);
  if (lines.length === 0) throw new HttpProblem(404, { detail: `No collected log line names correlation ID ${correlationId}.` });
  const trace = assembleTrace(correlationId, lines);
  return c.json(
    {
      ...trace,
      startedAt: iso(trace.startedAt),
      endedAt: iso(trace.endedAt),
      steps: trace.steps.map((s) => ({ ...s, startedAt: iso(s.startedAt) })),
    },
    200,
  );
});
