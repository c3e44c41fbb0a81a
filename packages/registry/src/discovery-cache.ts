/** Options of a {@link DiscoveryCache}. */
export interface DiscoveryCacheOptions {
  /** How old an answer may be before it is fetched again, in ms (default {@link DEFAULT_MAX_STALENESS_MS}). */
  maxStalenessMs?: number;
  /** When a fetch fails, an answer up to this old is served instead of the error (default 10 s; 0 turns it off). */
  staleIfErrorMs?: number;
  /**
   * While one caller fetches a stale key, the others get the answer in hand if it is at most this old instead
   * of waiting for the fetch (default 10 s; 0: everyone waits).
   */
  staleWhileRevalidateMs?: number;
  /** Most keys kept; the least recently fetched go first (default 1,024). */
  maxEntries?: number;
  now?: () => number;
}

/** The default staleness bound: a change is visible to every isolate within one second. */
export const DEFAULT_MAX_STALENESS_MS = 1000;

interface Entry<T> {
  value: T;
  /** When the fetch that produced it started: the answer reflects the source as of then or later. */
  fetchedAt: number;
}

/**
 * A per-isolate cache with a staleness bound, in front of the registry's Durable Objects: a hit costs a
 * map lookup; a miss fetches once however many callers wait for it (single flight); an isolate that
 * changed a key itself invalidates it and reads its own write at once. Every other isolate sees a change
 * within `maxStalenessMs` plus one fetch: the caller that finds its key stale fetches it, and callers that
 * come while that fetch runs get the stale answer (stale-while-revalidate) instead of queueing behind it.
 * Under load that queue was the gateway's worst tail: every second, the requests that arrived during the
 * refresh all waited for it, and a wait on another request's answer costs a turn of a busy event loop.
 * @example
 * const cache = new DiscoveryCache<ServiceSnapshot>({ maxStalenessMs: 1000 });
 * const snapshot = await cache.get("billing", () => stub.service("billing"));
 */
export class DiscoveryCache<T> {
  readonly maxStalenessMs: number;
  private readonly staleIfErrorMs: number;
  private readonly staleWhileRevalidateMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  private readonly entries = new Map<string, Entry<T>>();
  private readonly loading = new Map<string, Promise<T>>();

  constructor(options: DiscoveryCacheOptions = {}) {
    this.maxStalenessMs = options.maxStalenessMs ?? DEFAULT_MAX_STALENESS_MS;
    this.staleIfErrorMs = options.staleIfErrorMs ?? 10_000;
    this.staleWhileRevalidateMs = options.staleWhileRevalidateMs ?? 10_000;
    this.maxEntries = options.maxEntries ?? 1024;
    this.now = options.now ?? Date.now;
    if (!(this.maxStalenessMs >= 0) || !(this.staleIfErrorMs >= 0) || !(this.staleWhileRevalidateMs >= 0) || !(this.maxEntries >= 1)) {
      throw new RangeError("DiscoveryCache: maxStalenessMs, staleIfErrorMs and staleWhileRevalidateMs must be >= 0 and maxEntries >= 1");
    }
  }

  /** The fresh answer for `key`, or undefined when there is none (no fetch). */
  peek(key: string): T | undefined {
    const hit = this.entries.get(key);
    return hit && this.now() - hit.fetchedAt < this.maxStalenessMs ? hit.value : undefined;
  }

  /**
   * The answer for `key`: cached while fresh, else fetched with `load` (one fetch per key at a time); while
   * that fetch runs, other callers get the stale answer (within `staleWhileRevalidateMs`) or wait for it.
   */
  get(key: string, load: () => Promise<T>): Promise<T> {
    const hit = this.entries.get(key);
    const now = this.now();
    if (hit && now - hit.fetchedAt < this.maxStalenessMs) return Promise.resolve(hit.value);
    const pending = this.loading.get(key);
    if (pending) return hit && now - hit.fetchedAt < this.staleWhileRevalidateMs ? Promise.resolve(hit.value) : pending;
    const started = now;
    const fetching: Promise<T> = load().then(
      (value) => {
        if (this.loading.get(key) === fetching) {
          this.loading.delete(key);
          this.store(key, { value, fetchedAt: started });
        }
        return value;
      },
      (err: unknown) => {
        if (this.loading.get(key) === fetching) this.loading.delete(key);
        const stale = this.entries.get(key);
        if (stale && this.now() - stale.fetchedAt < this.staleIfErrorMs) return stale.value;
        throw err;
      },
    );
    this.loading.set(key, fetching);
    return fetching;
  }

  /** Forgets `key`, also an answer still being fetched, so the next `get` reads the source. */
  invalidate(key: string): void {
    this.entries.delete(key);
    this.loading.delete(key);
  }

  /** Number of cached keys. */
  get size(): number {
    return this.entries.size;
  }

  private store(key: string, entry: Entry<T>): void {
    this.entries.delete(key);
    this.entries.set(key, entry);
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value;
      if (oldest !== undefined) this.entries.delete(oldest);
    }
  }
}
