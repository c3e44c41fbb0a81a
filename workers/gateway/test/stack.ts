import { env } from "cloudflare:workers";

/** Asks the local stack to really stop or start one of its servers (tests cannot spawn processes). */
export async function stackControl(action: "redis/stop" | "redis/start" | "postgres/stop" | "postgres/start"): Promise<void> {
  const res = await fetch(`${env.STACK_CONTROL_URL}/${action}`, {
    method: "POST",
    headers: { authorization: `Bearer ${env.STACK_CONTROL_TOKEN}` },
  });
  if (!res.ok) throw new Error(`stack control ${action} failed: ${res.status} ${await res.text()}`);
}
