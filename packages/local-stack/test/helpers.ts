/**
 * What the `node` tests of the stack share: a running stack for the file, the real @upstash/redis and
 * @neondatabase/serverless clients pointed at it, and a check that a call fails quickly.
 */
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Redis } from "@upstash/redis";
import { neon, neonConfig, type NeonQueryFunction } from "@neondatabase/serverless";
import { expect } from "vitest";
import ws from "ws";
import { startLocalStack, type LocalStack } from "../src/index.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

/** Starts a test-profile stack for the repository (its migrations applied), quietly. */
export function startTestStack(): Promise<LocalStack> {
  return startLocalStack({ root, profile: "test", log: () => {} });
}

/** A key no other test (or earlier run) uses. */
export const key = (name: string) => `node-test:${Date.now().toString(36)}:${Math.random().toString(36).slice(2, 8)}:${name}`;

/** The three ways workers configure @upstash/redis: raw replies, the defaults, and without base64 encoding. */
export function upstashClients(stack: LocalStack): { raw: Redis; redis: Redis; plain: Redis } {
  const { url, token } = stack.upstash;
  return {
    raw: new Redis({ url, token, automaticDeserialization: false }),
    redis: new Redis({ url, token }),
    plain: new Redis({ url, token, responseEncoding: false, automaticDeserialization: false }),
  };
}

/** Points @neondatabase/serverless at the stack the way workers do (process-wide) and returns `neon()` for it. */
export function neonClient(stack: LocalStack): NeonQueryFunction<false, false> {
  neonConfig.fetchEndpoint = stack.neon.httpEndpoint;
  neonConfig.webSocketConstructor = ws;
  neonConfig.wsProxy = (host, port) => `${stack.neon.wsProxy}?address=${host}:${port}`;
  neonConfig.useSecureWebSocket = false;
  neonConfig.pipelineTLS = false;
  neonConfig.pipelineConnect = false;
  return neon(stack.neon.databaseUrl);
}

/** Expects `fn` to reject within `maxMs` (a stopped server must not make callers wait); returns the error. */
export async function failsFast(fn: () => Promise<unknown>, maxMs: number, what: string): Promise<unknown> {
  const t0 = performance.now();
  let err: unknown;
  try {
    await fn();
  } catch (e) {
    err = e;
  }
  const ms = performance.now() - t0;
  expect(err, `${what}: expected an error, the call succeeded`).toBeDefined();
  expect(ms, `${what}: took ${ms.toFixed(0)} ms`).toBeLessThan(maxMs);
  return err;
}
