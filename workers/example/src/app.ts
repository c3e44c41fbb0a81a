import { createRoute, z } from "@hono/zod-openapi";
import type { SelfRegistrationEnv } from "@foundation/registry";
import { createService, HttpProblem, JobRateLimited, redisFrom } from "@foundation/service-kit";

/** Body of `POST /echo`; unknown fields are rejected so nothing unexpected is ever stored or echoed. */
export const EchoRequest = z
  .object({
    message: z.string().min(1).max(1000),
    repeat: z.number().int().min(1).max(10).default(1),
  })
  .strict()
  .openapi("EchoRequest");

/** Answer of `POST /echo`. */
export const EchoResponse = z.object({ echo: z.string(), correlationId: z.string(), service: z.string() }).openapi("EchoResponse");

const echoRoute = createRoute({
  method: "post",
  path: "/echo",
  summary: "Echo a validated message back",
  request: { body: { content: { "application/json": { schema: EchoRequest } }, required: true } },
  responses: { 200: { description: "The message, repeated", content: { "application/json": { schema: EchoResponse } } } },
});

/** The example's bindings plus the optional self-registration settings (REGISTRY_URL, REGISTRY_TOKEN, SERVICE_URL). */
export type ExampleEnv = Env & SelfRegistrationEnv;

/** The example service: the smallest useful service on the kit. */
export const app = createService<ExampleEnv>({ name: "example", version: "0.1.0" });

app.get("/hello", (c) => c.json({ hello: "world", service: "example", correlationId: c.var.correlationId }));

app.openapi(echoRoute, (c) => {
  const { message, repeat } = c.req.valid("json");
  return c.json(
    { echo: Array.from({ length: repeat }, () => message).join(" "), correlationId: c.var.correlationId, service: "example" },
    200,
  );
});

/** Body of `POST /greetings`. */
export const GreetingRequest = z
  .object({ name: z.string().min(1).max(100), fail: z.boolean().optional() })
  .strict()
  .openapi("GreetingRequest");

const greetingsRoute = createRoute({
  method: "post",
  path: "/greetings",
  summary: "Publish a greeting to example.greetings through the gateway's event API",
  request: { body: { content: { "application/json": { schema: GreetingRequest } }, required: true } },
  responses: {
    202: {
      description: "Published: the event's id and stream position",
      content: { "application/json": { schema: z.object({ id: z.string(), streamId: z.string(), correlationId: z.string() }) } },
    },
  },
});

/**
 * A service publishing an event: through the gateway's `POST /api/foundation/events/:stream` with the service's own
 * token (`REGISTRY_URL`, `REGISTRY_TOKEN`; it needs the `publish` scope). `c.var.fetch` carries the request's
 * correlation ID and trace context, so the event, its deliveries and the handlers' lines join this request's trace.
 */
app.openapi(greetingsRoute, async (c) => {
  const { REGISTRY_URL: gateway, REGISTRY_TOKEN: token } = c.env;
  if (!gateway || !token)
    throw new HttpProblem(503, { slug: "publishing-not-configured", detail: "REGISTRY_URL and REGISTRY_TOKEN are not set." });
  const res = await c.var.fetch(`${gateway}/api/foundation/events/example.greetings`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ type: "greeting", data: c.req.valid("json") }),
  });
  if (res.status !== 202) {
    await res.body?.cancel();
    throw new HttpProblem(502, { slug: "publish-failed", detail: `The gateway answered ${res.status} to the publish.` });
  }
  const { id, streamId } = await res.json<{ id: string; streamId: string }>();
  return c.json({ id, streamId, correlationId: c.var.correlationId }, 202);
});

/**
 * An event subscription: greetings published to `example.greetings` are recorded in Redis per consumer
 * group, once per event id however often they are delivered. A greeting whose data says `{"fail": true}` makes the handler
 * throw, and `{"delayMs": n}` (up to 5 s) makes it slow, to show (and test) retries, dead letters and slow handlers.
 * `example.orders` gets the same handler: it is the partitioned topic of the examples and tests.
 */
const greet: Parameters<typeof app.subscribe>[1] = async (event, { deliveryCount, streamId, group, c }) => {
  const data = event.data as { fail?: boolean; delayMs?: number } | undefined;
  const redis = redisFrom(c.env);
  await redis.hset(`example:deliveries:${group}:${event.id}`, { [String(deliveryCount)]: streamId });
  if (typeof data?.delayMs === "number") await scheduler.wait(Math.min(Math.max(0, data.delayMs), 5000));
  if (data?.fail) throw new Error(`greeting ${event.id} asked to fail`);
  await redis.set(`example:greeted:${group}:${event.id}`, streamId, { nx: true });
};
app.subscribe("example.greetings", greet);
app.subscribe("example.orders", greet);

/** What an `example.jobs…` job's data may ask for, to show (and test) the job queues. */
interface ExampleJobData {
  /** Groups the job's record with those of one test run. */
  run?: string;
  sleepMs?: number;
  /** Fail the first N attempts. */
  failTimes?: number;
  /** Answer "rate-limited upstream" (429) once, asking for this many ms. */
  throttleOnceMs?: number;
  /** Report these progress values in turn. */
  progress?: unknown[];
}

/**
 * A job handler for every queue named `example.jobs…`: each attempt of a job is recorded in Redis (`example:jobs:<run>`: its id, attempt,
 * start and end time), so a test sees what ran when and how many at once; the data can make it slow, fail,
 * report progress, or be rate-limited once. The result echoes the data with the attempt.
 */
app.job("example.jobs*", async (job, { c, progress }) => {
  const data = (job.data ?? {}) as ExampleJobData;
  const redis = redisFrom(c.env);
  const started = Date.now();
  if (data.throttleOnceMs !== undefined && (await redis.set(`example:jobs:throttled:${job.id}`, "1", { nx: true, ex: 600 }))) {
    throw new JobRateLimited(data.throttleOnceMs);
  }
  for (const value of data.progress ?? []) await progress(value);
  if (data.sleepMs) await scheduler.wait(Math.min(Math.max(0, data.sleepMs), 10_000));
  const record = JSON.stringify({ id: job.id, attempt: job.attempt, start: started, end: Date.now() });
  if (data.run) await redis.rpush(`example:jobs:${data.run}`, record);
  if (data.failTimes !== undefined && job.attempt <= data.failTimes) throw new Error(`attempt ${job.attempt} asked to fail`);
  return { echo: job.data ?? null, attempt: job.attempt };
});
