/**
 * Sets `key` in `map` as its newest entry and drops the oldest entry past `maxEntries`: how the per-isolate caches
 * (verified tokens, deny cache, leases) stay bounded. Maps iterate in insertion order, so the first key is the oldest.
 * @example setBounded(cache, token, entry, 10_000);
 */
export function setBounded<K, V>(map: Map<K, V>, key: K, value: V, maxEntries: number): void {
  map.delete(key);
  map.set(key, value);
  if (map.size > maxEntries) {
    const oldest = map.keys().next().value;
    if (oldest !== undefined) map.delete(oldest);
  }
}
