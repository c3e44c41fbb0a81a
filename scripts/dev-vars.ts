import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { SignJWT } from "jose";
import { DEFAULT_AUDIENCE, DEFAULT_ISSUER } from "@foundation/service-kit/config";
import { ROOT } from "./workers.ts";

/** The gateway's local secrets file (git-ignored); wrangler dev reads it, `npm run token` signs with it. */
export const DEV_VARS = resolve(ROOT, ".dev.vars");

/** Parses a `.dev.vars` (dotenv) file into key/value pairs. */
export function parseDevVars(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)\s*$/.exec(line);
    if (!m?.[1]) continue;
    let value = m[2] ?? "";
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = JSON.parse(value) as string;
    vars[m[1]] = value;
  }
  return vars;
}

/** Writes key/value pairs as a `.dev.vars` file, each value JSON-quoted. */
export function writeDevVars(path: string, vars: Record<string, string>): void {
  const body = Object.entries(vars)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join("\n");
  writeFileSync(path, `# Written by npm run dev; local only, never commit.\n${body}\n`, { mode: 0o600 });
}

/** A local secret kept in the gateway's `.dev.vars`, created on first use and kept across runs. */
export function localSecret(name: string): string {
  const vars = existsSync(DEV_VARS) ? parseDevVars(readFileSync(DEV_VARS, "utf8")) : {};
  const existing = vars[name];
  if (existing) return existing;
  const secret = randomBytes(32).toString("base64url");
  writeDevVars(DEV_VARS, { ...vars, [name]: secret });
  return secret;
}

/** The local JWT secret, kept across runs so issued tokens stay valid. */
export function localJwtSecret(): string {
  return localSecret("JWT_SECRET");
}

/** An HS256 JWT the local gateway accepts: issuer and audience of the kit, signed with the local JWT secret. */
export function signLocalToken(sub: string, scopes: string[], ttlSeconds: number): Promise<string> {
  return signToken(localJwtSecret(), sub, scopes, ttlSeconds);
}

/**
 * An HS256 JWT a gateway with JWT secret `secret` accepts: the kit's issuer and audience. The Node-side tests sign
 * with the secret they give the workers they start.
 * @example await signToken(jwtSecret, "dashboard-test", ["admin"], 3600)
 */
export function signToken(secret: string, sub: string, scopes: string[], ttlSeconds: number): Promise<string> {
  return new SignJWT({ scope: scopes.join(" ") })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(sub)
    .setIssuer(DEFAULT_ISSUER)
    .setAudience(DEFAULT_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + ttlSeconds)
    .sign(new TextEncoder().encode(secret));
}
