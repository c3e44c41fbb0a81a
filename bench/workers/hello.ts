/**
 * The ceiling baseline: the smallest Hono worker, one JSON route and no middleware. Every HTTP figure is
 * reported as a ratio of this one, measured in the same run on the same machine.
 */
import { Hono } from "hono";

const app = new Hono();

app.get("/", (c) => c.json({ hello: "world" }));

export default app;
