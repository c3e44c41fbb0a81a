import { createRoute, z } from "@hono/zod-openapi";
import { createService } from "@foundation/service-kit";

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

/** The example service: the smallest useful service on the kit. */
export const app = createService<Env>({ name: "example", version: "0.1.0" });

app.get("/hello", (c) => c.json({ hello: "world", service: "example", correlationId: c.var.correlationId }));

app.openapi(echoRoute, (c) => {
  const { message, repeat } = c.req.valid("json");
  return c.json(
    { echo: Array.from({ length: repeat }, () => message).join(" "), correlationId: c.var.correlationId, service: "example" },
    200,
  );
});
