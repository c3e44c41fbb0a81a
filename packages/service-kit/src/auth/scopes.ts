import type { JWTPayload } from "jose";
import type { AuthContext } from "./types.ts";

/** The scope that grants every other scope. */
export const ADMIN_SCOPE = "admin";

/** Scopes from the OAuth `scope` string or an `scp` array. */
export function scopesOf(claims: JWTPayload): Set<string> {
  const scope = typeof claims.scope === "string" ? claims.scope.split(" ") : [];
  const scp = Array.isArray(claims.scp) ? claims.scp.filter((s): s is string => typeof s === "string") : [];
  return new Set([...scope, ...scp].filter(Boolean));
}

/** Whether `auth` holds at least one of `anyOf` (admin holds them all). */
export function hasScope(auth: AuthContext, anyOf: readonly string[]): boolean {
  return auth.scopes.has(ADMIN_SCOPE) || anyOf.some((s) => auth.scopes.has(s));
}
