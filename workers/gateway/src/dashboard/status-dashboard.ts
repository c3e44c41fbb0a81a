import { DurableObject } from "cloudflare:workers";
import { STATUS_LISTENER_NAME, type StatusChange } from "@foundation/registry";
import { errorFields, type Logger } from "@foundation/service-kit";
import { clientGroup } from "./client-address.ts";

/** Most dashboards connected at once; more get 503 (each socket costs the object memory while it is awake). */
export const MAX_DASHBOARD_SOCKETS = 1000;

/**
 * Most dashboards connected at once from one client address (an IPv6 /64), so one client cannot hold every socket:
 * a few tabs or screens per person, a small office behind one address.
 */
export const MAX_DASHBOARD_SOCKETS_PER_CLIENT = 5;

/** The close code and reason of a socket over the per-client cap. */
export const TOO_MANY_FROM_CLIENT = { code: 1008, reason: `at most ${MAX_DASHBOARD_SOCKETS_PER_CLIENT} dashboards per client address` };

/** A status change as the public dashboard sees it: no check output, which may name internal hosts. */
export interface PublicStatusChange {
  service: string;
  instanceId: string;
  from: string | null;
  to: string;
  at: number;
}

/** What the dashboard's WebSocket sends: status changes as they happen, and "an uptime check ran". */
export type DashboardMessage = { type: "status"; changes: PublicStatusChange[] } | { type: "checked"; at: number };

/** Strips a registry status change down to what the public page may show. */
export function publicChange(c: StatusChange): PublicStatusChange {
  return { service: c.service, instanceId: c.instanceId, from: c.from, to: c.to, at: c.at };
}

/**
 * Calls the status dashboard object, best effort: a dashboard that misses a message re-reads the state on
 * its own, so a failure is logged and never fails the caller.
 */
export async function tellDashboard(
  env: Env,
  call: (d: DurableObjectStub<StatusDashboard>) => Promise<unknown>,
  log?: Logger,
): Promise<void> {
  try {
    const ns = env.STATUS_DASHBOARD;
    await call(ns.get(ns.idFromName(STATUS_LISTENER_NAME)));
  } catch (err) {
    log?.warn("status dashboard not told", errorFields(err));
  }
}

/**
 * The live side of `/dashboard`: holds the browsers' WebSockets with the hibernation API (the object sleeps
 * between messages while the sockets stay open) and broadcasts what the registry and the uptime checks
 * report. The sockets are read-only: a browser's `ping` is answered without waking the object, anything
 * else closes the socket. One object serves every dashboard; it stores nothing.
 */
export class StatusDashboard extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }

  /**
   * Accepts a dashboard's WebSocket upgrade. Each socket is tagged with its client's address group
   * (`cf-connecting-ip`), which survives hibernation; one over that client's cap is opened and closed at once with
   * {@link TOO_MANY_FROM_CLIENT}, since a browser sees the close reason but never the status of a refused upgrade.
   */
  override fetch(request: Request): Response {
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return new Response("expected a WebSocket upgrade", { status: 426 });
    if (this.ctx.getWebSockets().length >= MAX_DASHBOARD_SOCKETS) return new Response("too many dashboards", { status: 503 });
    const tag = `client:${clientGroup(request.headers.get("cf-connecting-ip"))}`;
    const { 0: client, 1: server } = new WebSocketPair();
    if (this.ctx.getWebSockets(tag).length >= MAX_DASHBOARD_SOCKETS_PER_CLIENT) {
      server.accept();
      server.close(TOO_MANY_FROM_CLIENT.code, TOO_MANY_FROM_CLIENT.reason);
    } else {
      this.ctx.acceptWebSocket(server, [tag]);
    }
    return new Response(null, { status: 101, webSocket: client });
  }

  /** Broadcasts instance status changes (called by every `ServiceRegistry`); returns the sockets reached. */
  statusChanged(changes: StatusChange[]): number {
    return this.broadcast({ type: "status", changes: changes.map(publicChange) });
  }

  /** Broadcasts that an uptime check ran at `at`, so dashboards re-read uptime; returns the sockets reached. */
  checked(at: number): number {
    return this.broadcast({ type: "checked", at });
  }

  /** Number of connected dashboards. */
  connections(): number {
    return this.ctx.getWebSockets().length;
  }

  override webSocketMessage(ws: WebSocket): void {
    ws.close(1008, "this socket is read-only");
  }

  override webSocketClose(ws: WebSocket): void {
    try {
      ws.close(1000, "closing");
    } catch {
      // Already closed from this side: nothing left to do.
    }
  }

  private broadcast(message: DashboardMessage): number {
    const text = JSON.stringify(message);
    let sent = 0;
    for (const ws of this.ctx.getWebSockets()) {
      try {
        ws.send(text);
        sent += 1;
      } catch {
        // A socket closing while we send: it is dropped by the runtime.
      }
    }
    return sent;
  }
}
