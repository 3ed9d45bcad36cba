import { NdxError } from '@ndx/service-kit';

/** A token bucket: `burst` requests at once, refilled at `requestsPerSecond`. */
export interface RateLimit {
  requestsPerSecond: number;
  burst: number;
}

/** fl-config.json's `rateLimits`: a default, per-consumer overrides, and how many buckets are kept at most. */
export interface RateLimitConfig {
  default: RateLimit;
  consumers: Record<string, RateLimit>;
  maxTrackedConsumers: number;
}

/** What the limiter says of one request: go ahead, or wait this many whole seconds (the Retry-After value). */
export type RateDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

export interface RateLimiter {
  /** Takes one request from the consumer's bucket, if it holds one; a refused request takes nothing. */
  take(consumerId: string): RateDecision;
  /** Buckets held now (at most maxTrackedConsumers). */
  readonly size: number;
}

/** The consumer sent more requests than its limit allows; it may try again after `retryAfterSeconds`. */
export class RateLimitedError extends NdxError {
  readonly retryAfterSeconds: number;
  constructor(consumerId: string, retryAfterSeconds: number) {
    super(
      'RATE_LIMITED',
      `consumer ${consumerId} sent more requests than its rate limit allows; try again in ${retryAfterSeconds} s`,
      429,
      { retryAfterSeconds },
    );
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

interface Bucket {
  tokens: number;
  /** When `tokens` was last brought up to date (ms, on the limiter's clock). */
  at: number;
}

/**
 * Per-consumer token buckets in one bounded map (least recently used dropped first; a dropped consumer starts
 * again with a full bucket). Keys are authenticated consumers' client ids, so the map holds at most the
 * registered consumers that called lately. `now` is monotonic milliseconds (tests inject a clock).
 */
export function createRateLimiter(
  config: RateLimitConfig,
  now: () => number = () => performance.now(),
): RateLimiter {
  const buckets = new Map<string, Bucket>();
  const limitOf = (consumerId: string): RateLimit =>
    Object.hasOwn(config.consumers, consumerId) ? config.consumers[consumerId]! : config.default;
  return {
    take(consumerId) {
      const limit = limitOf(consumerId);
      const at = now();
      const held = buckets.get(consumerId);
      const tokens = held
        ? Math.min(limit.burst, held.tokens + (Math.max(0, at - held.at) / 1000) * limit.requestsPerSecond)
        : limit.burst;
      // Re-inserted, so the map's order is least recently used first.
      buckets.delete(consumerId);
      const allowed = tokens >= 1;
      buckets.set(consumerId, { tokens: allowed ? tokens - 1 : tokens, at });
      if (buckets.size > config.maxTrackedConsumers) buckets.delete(buckets.keys().next().value!);
      if (allowed) return { allowed: true };
      return {
        allowed: false,
        retryAfterSeconds: Math.max(1, Math.ceil((1 - tokens) / limit.requestsPerSecond)),
      };
    },
    get size() {
      return buckets.size;
    },
  };
}
