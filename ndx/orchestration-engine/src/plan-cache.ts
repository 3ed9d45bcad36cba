/**
 * A bounded cache that drops the least recently used entry when full. The OE's per-request caches are all of
 * this kind (or bounded likewise): plan templates, parsed and validated documents, printed sub-queries.
 */
export class PlanCache<T> {
  private readonly entries = new Map<string, T>();
  private readonly limit: number;
  /** Lookups answered from the cache, and those that were not (for tests and metrics). */
  hits = 0;
  misses = 0;

  constructor(limit: number) {
    this.limit = Math.max(1, Math.floor(limit));
  }

  /** The cached value, now the most recently used; undefined when absent. */
  get(key: string): T | undefined {
    const value = this.entries.get(key);
    if (value === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.entries.delete(key);
    this.entries.set(key, value);
    return value;
  }

  /** Stores value as the most recently used, dropping the least recently used entry past the bound. */
  set(key: string, value: T): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.limit) this.entries.delete(this.entries.keys().next().value as string);
  }

  delete(key: string): boolean {
    return this.entries.delete(key);
  }

  /** The cached value, now the most recently used; or `build()`'s, cached. */
  getOrBuild(key: string, build: () => T): T {
    let value = this.get(key);
    if (value === undefined) {
      value = build();
      this.set(key, value);
    }
    return value;
  }

  get size(): number {
    return this.entries.size;
  }

  get maxEntries(): number {
    return this.limit;
  }
}

/**
 * What a plan template depends on: the operation text, the operation picked, and the values of the variables
 * that @skip/@include read (a value enters the key only as true or false).
 */
export function planCacheKey(
  source: string,
  operationName: string | undefined,
  conditions: boolean[],
): string {
  return `${operationName ?? ''}\u0000${conditions.map(Number).join('')}\u0000${source}`;
}
