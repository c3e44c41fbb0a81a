import { openSecret, serviceBinding, serviceSecret, webhookHeaders } from "@foundation/core";
import type { QueueSettings } from "./schema.ts";
import { attemptMessageId, JOB_PATH, readJobAnswer, type JobOutcome, type JobRequest } from "./worker.ts";

/** What pushing a job needs from the worker that runs the queues: the signing secret and the services' bindings. */
export interface PushEnv {
  EVENT_SIGNING_SECRET: string;
}

const encoder = new TextEncoder();

async function hmac(master: string, text: string): Promise<string> {
  const key = await crypto.subtle.importKey("raw", encoder.encode(master), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, encoder.encode(text)));
  let raw = "";
  for (const b of mac) raw += String.fromCharCode(b);
  return btoa(raw).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/**
 * The credential in a job attempt's progress URL: an HMAC of the queue, the job and the attempt with the gateway's
 * secret, so it reports progress for that attempt only.
 */
export function progressToken(master: string, queue: string, id: string, attempt: number): Promise<string> {
  return hmac(master, `progress\n${queue}\n${id}\n${attempt}`);
}

/** Whether `token` is the progress credential of that attempt (compared in constant time). */
export async function progressTokenValid(master: string, queue: string, id: string, attempt: number, token: string): Promise<boolean> {
  const expected = await progressToken(master, queue, id, attempt);
  if (expected.length !== token.length) return false;
  let diff = 0;
  for (let i = 0; i < expected.length; i++) diff |= expected.charCodeAt(i) ^ token.charCodeAt(i);
  return diff === 0;
}

/** The URL a worker reports an attempt's progress to, or null when the queue does not know the gateway's origin. */
export async function progressUrl(master: string, settings: QueueSettings, id: string, attempt: number): Promise<string | null> {
  if (!settings.progressOrigin) return null;
  const token = await progressToken(master, settings.name, id, attempt);
  const path = `/api/foundation/queues/${settings.name}/jobs/${encodeURIComponent(id)}/progress`;
  return `${settings.progressOrigin}${path}?attempt=${attempt}&token=${token}`;
}

/** The secret that signs a queue's pushes: its URL target's own, or the one derived for its service. */
async function signingSecret(env: PushEnv, settings: QueueSettings): Promise<string> {
  if ("service" in settings.target) return serviceSecret(env.EVENT_SIGNING_SECRET, settings.target.service);
  return settings.secret ? openSecret(env.EVENT_SIGNING_SECRET, settings.secret) : env.EVENT_SIGNING_SECRET;
}

/**
 * Sends one attempt of a job to the queue's target, signed with Standard Webhooks headers, and reads the answer
 * (see `readJobAnswer`). A network failure, a missing service binding or the attempt's timeout fails the attempt.
 * @example const outcome = await pushJob(env, settings, request, 30_000);
 */
export async function pushJob(env: PushEnv, settings: QueueSettings, request: JobRequest, timeoutMs: number): Promise<JobOutcome> {
  const body = JSON.stringify(request);
  const now = Date.now();
  const signed = await webhookHeaders(
    [await signingSecret(env, settings)],
    attemptMessageId(request.queue, request.id, request.attempt),
    now,
    body,
  );
  const headers = { "content-type": "application/json", ...signed };
  // A timer cleared once the attempt settles: `AbortSignal.timeout` keeps its timer until it fires, and a Durable
  // Object may hold only 10,000 active timers, which a busy queue with 30-s timeouts would pass at ~333 attempts/s.
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(new DOMException(`timed out after ${timeoutMs} ms`, "TimeoutError")), timeoutMs);
  const init = { method: "POST", headers, body, redirect: "manual", signal: timeout.signal } as const;
  try {
    let res: Response;
    if ("service" in settings.target) {
      const binding = serviceBinding(env, settings.target.service);
      if (!binding) return { kind: "failed", reason: `no service named "${settings.target.service}" is bound to the gateway` };
      res = await binding.fetch(new Request(`https://${settings.target.service}.internal${JOB_PATH}`, init));
    } else {
      res = await fetch(settings.target.url, init);
    }
    const text = await res.text().catch(() => "");
    return readJobAnswer(res.status, res.headers.get("retry-after"), text, Date.now());
  } catch (err) {
    if (err instanceof Error && (err.name === "TimeoutError" || err.name === "AbortError")) {
      return { kind: "failed", reason: `timed out after ${timeoutMs} ms` };
    }
    return { kind: "failed", reason: err instanceof Error ? `${err.name}: ${err.message}` : String(err) };
  } finally {
    clearTimeout(timer);
  }
}
