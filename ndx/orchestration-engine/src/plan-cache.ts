/** A bounded cache that drops the least recently used entry when full. */
export class PlanCache<T> {
  private readonly entries = new Map<string, T>();
  private readonly limit: number;

  constructor(limit: number) {
    this.limit = Math.max(1, limit);
  }

  /** The cached value, now the most recently used; or `build()`'s, cached. */
  getOrBuild(key: string, build: () => T): T {
    let value = this.entries.get(key);
    if (value === undefined) value = build();
    else this.entries.delete(key);
    this.entries.set(key, value);
    if (this.entries.size > this.limit) this.entries.delete(this.entries.keys().next().value as string);
    return value;
  }

  get size(): number {
    return this.entries.size;
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
