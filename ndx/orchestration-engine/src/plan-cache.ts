/**
 * A bounded cache that drops the least recently used entry when full. The OE's per-request caches are all of
 * this kind (or bounded likewise): plan templates, parsed and validated documents, printed sub-queries.
 */
export class PlanCache<T> {
  private readonly entries = new Map<string, { value: T; weight: number }>();
  private readonly limit: number;
  private readonly budget: CacheBudget<T> | undefined;
  private totalWeight = 0;
  /** Lookups answered from the cache, and those that were not (for tests and metrics). */
  hits = 0;
  misses = 0;

  /**
   * At most `limit` entries and, with a budget, at most `budget.maxWeight` in total (an entry heavier than that
   * is not kept at all): entries are as large as what a consumer sends, so a count alone does not bound memory.
   */
  constructor(limit: number, budget?: CacheBudget<T>) {
    this.limit = Math.max(1, Math.floor(limit));
    this.budget = budget;
  }

  /** The cached value, now the most recently used; undefined when absent. */
  get(key: string): T | undefined {
    const entry = this.entries.get(key);
    if (entry === undefined) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    this.entries.delete(key);
    this.entries.set(key, entry);
    return entry.value;
  }

  /** Stores value as the most recently used, dropping the least recently used entries past the bounds. */
  set(key: string, value: T): void {
    this.delete(key);
    const weight = this.budget ? this.budget.weigh(value, key) : 0;
    this.entries.set(key, { value, weight });
    this.totalWeight += weight;
    while (
      this.entries.size > this.limit ||
      (this.budget !== undefined && this.totalWeight > this.budget.maxWeight)
    ) {
      this.delete(this.entries.keys().next().value as string);
    }
  }

  delete(key: string): boolean {
    const entry = this.entries.get(key);
    if (!entry) return false;
    this.totalWeight -= entry.weight;
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

  /** The total weight of the entries (0 without a budget). */
  get weight(): number {
    return this.totalWeight;
  }
}

/** A bound on the total size of a cache's entries, in whatever unit `weigh` measures (e.g. query characters). */
export interface CacheBudget<T> {
  maxWeight: number;
  weigh: (value: T, key: string) => number;
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
