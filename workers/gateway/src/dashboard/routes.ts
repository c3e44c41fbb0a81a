import { OpenAPIHono } from "@hono/zod-openapi";
import { HttpProblem, requireAuth } from "@foundation/service-kit";
import type { GatewayEnv } from "../env.ts";
import { checkBoardAccess } from "./board.ts";
import { dashboardJobs } from "./queues.ts";
import { dashboardState, type DashboardState } from "./snapshot.ts";
import { STATUS_LISTENER_NAME } from "@foundation/registry";

/** A state read this recently in this isolate is served again: the page is public, its sources are not free. */
export const STATE_CACHE_MS = 1000;

let cached: { at: number; state: Promise<DashboardState> } | undefined;

function cachedState(env: Env, now: number): Promise<DashboardState> {
  if (!cached || now - cached.at >= STATE_CACHE_MS) {
    const state = dashboardState(env, now);
    cached = { at: now, state };
    state.catch(() => (cached = undefined));
  }
  return cached.state;
}

/**
 * The data behind the public `/dashboard` page (its HTML, script and styles are static assets): the state
 * as JSON, and the WebSocket of live updates, served by the `StatusDashboard` object, read-only and without auth;
 * and for admins, the job board's jobs (their retry and cancel buttons call `/api/foundation/queues`).
 */
export const dashboardRoutes = new OpenAPIHono<GatewayEnv>();

dashboardRoutes.get("/state", async (c) => {
  const state = await cachedState(c.env, Date.now());
  return c.json(state, 200, { "Cache-Control": "no-store" });
});

dashboardRoutes.get("/jobs", requireAuth(), async (c) => {
  checkBoardAccess(c.var.auth);
  return c.json(await dashboardJobs(c.env), 200, { "Cache-Control": "no-store" });
});

dashboardRoutes.get("/live", async (c) => {
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
    throw new HttpProblem(426, {
      slug: "upgrade-required",
      detail: "GET /dashboard/live is a WebSocket.",
      headers: { Upgrade: "websocket" },
    });
  }
  const ns = c.env.STATUS_DASHBOARD;
  return ns.get(ns.idFromName(STATUS_LISTENER_NAME)).fetch(c.req.raw);
});
