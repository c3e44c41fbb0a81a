/**
 * hello-world whose handler first takes one turn of the event loop (`nextTurn`), as every request on the kit does:
 * measured next to the plain hello-world, it shows what the turn alone is worth under load, so the kit's own work can
 * be read against both.
 */
import { Hono } from "hono";
import { nextTurn } from "@foundation/core";

const app = new Hono();

app.get("/", async (c) => {
  await nextTurn();
  return c.json({ hello: "world" });
});

export default app;
