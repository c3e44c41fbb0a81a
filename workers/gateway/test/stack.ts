import { env } from "cloudflare:workers";

/** What the stack's control endpoint can do to a server: stop and start it, or pause it (SIGSTOP, it hangs) and resume it. */
export type StackAction = `${"redis" | "postgres"}/${"stop" | "start" | "pause" | "resume"}`;

/** Asks the local stack to really stop, start, pause or resume one of its servers (tests cannot spawn processes). */
export async function stackControl(action: StackAction): Promise<void> {
  const res = await fetch(`${env.STACK_CONTROL_URL}/${action}`, {
    method: "POST",
    headers: { authorization: `Bearer ${env.STACK_CONTROL_TOKEN}` },
  });
  if (!res.ok) throw new Error(`stack control ${action} failed: ${res.status} ${await res.text()}`);
}
