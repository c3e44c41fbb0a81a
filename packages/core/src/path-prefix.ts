/**
 * Whether `path` is under `prefix` at a segment boundary: `/hello` covers `/hello` and `/hello/x` but not
 * `/hello-admin`; a prefix ending in `/` covers everything below it. What route rules and quotas match with.
 * @example underPrefix("/api/example/hello-admin", "/api/example/hello") // false
 */
export function underPrefix(path: string, prefix: string): boolean {
  if (prefix.endsWith("/")) return path.startsWith(prefix);
  return path === prefix || path.startsWith(`${prefix}/`);
}
