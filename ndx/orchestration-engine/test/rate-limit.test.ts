/**
 * The OE's per-consumer rate limit (token buckets on an injected clock) and its section of fl-config.json.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '@ndx/service-kit';
import { DEFAULT_RATE_LIMITS, defaultFlConfigPath, loadFlConfig, parseFlConfig } from '../src/fl-config.ts';
import { createRateLimiter, type RateLimitConfig } from '../src/rate-limit.ts';

function clock() {
  let ms = 0;
  return { now: () => ms, advance: (by: number) => (ms += by) };
}

const config: RateLimitConfig = {
  default: { requestsPerSecond: 2, burst: 3 },
  consumers: { 'bulk-app': { requestsPerSecond: 10, burst: 5 } },
  maxTrackedConsumers: 100,
};

const takeMany = (limiter: ReturnType<typeof createRateLimiter>, consumer: string, n: number) =>
  Array.from({ length: n }, () => limiter.take(consumer));

describe('the OE’s per-consumer rate limit', () => {
  it('lets a burst through, refuses the rest with the whole seconds until the next request may pass, and refills', () => {
    const time = clock();
    const limiter = createRateLimiter(config, time.now);
    expect(takeMany(limiter, 'passport-app', 5)).toEqual([
      { allowed: true },
      { allowed: true },
      { allowed: true },
      { allowed: false, retryAfterSeconds: 1 },
      { allowed: false, retryAfterSeconds: 1 },
    ]);
    time.advance(250); // half a request refilled: not yet
    expect(limiter.take('passport-app')).toEqual({ allowed: false, retryAfterSeconds: 1 });
    time.advance(250); // one request refilled (refused requests took nothing)
    expect(takeMany(limiter, 'passport-app', 2)).toEqual([
      { allowed: true },
      { allowed: false, retryAfterSeconds: 1 },
    ]);
    time.advance(60_000); // refills to the burst, never beyond
    expect(takeMany(limiter, 'passport-app', 4).map((d) => d.allowed)).toEqual([true, true, true, false]);
  });

  it('says how long to wait when the refill is slower than one request a second', () => {
    const time = clock();
    const limiter = createRateLimiter(
      { default: { requestsPerSecond: 0.2, burst: 1 }, consumers: {}, maxTrackedConsumers: 10 },
      time.now,
    );
    expect(limiter.take('passport-app')).toEqual({ allowed: true });
    expect(limiter.take('passport-app')).toEqual({ allowed: false, retryAfterSeconds: 5 });
    time.advance(2_500);
    expect(limiter.take('passport-app')).toEqual({ allowed: false, retryAfterSeconds: 3 });
    time.advance(2_500);
    expect(limiter.take('passport-app')).toEqual({ allowed: true });
  });

  it('keeps one bucket per consumer, with its own override, so one consumer’s burst never limits another', () => {
    const limiter = createRateLimiter(config, clock().now);
    expect(takeMany(limiter, 'passport-app', 4).map((d) => d.allowed)).toEqual([true, true, true, false]);
    expect(takeMany(limiter, 'traffic-police-app', 3).map((d) => d.allowed)).toEqual([true, true, true]);
    expect(takeMany(limiter, 'bulk-app', 6).map((d) => d.allowed)).toEqual([
      true,
      true,
      true,
      true,
      true,
      false,
    ]);
  });

  it('holds at most maxTrackedConsumers buckets, dropping the least recently used', () => {
    const limiter = createRateLimiter({ ...config, maxTrackedConsumers: 2 }, clock().now);
    takeMany(limiter, 'a-app', 3);
    takeMany(limiter, 'b-app', 3);
    limiter.take('a-app'); // a-app used last: b-app is the one dropped next
    limiter.take('c-app');
    expect(limiter.size).toBe(2);
    expect(limiter.take('a-app')).toEqual({ allowed: false, retryAfterSeconds: 1 }); // a-app's bucket was kept
    expect(limiter.take('b-app')).toEqual({ allowed: true }); // b-app's was dropped: it starts full again
    expect(limiter.size).toBe(2);
  });
});

describe('rateLimits in fl-config.json', () => {
  const repoConfig = () => structuredClone(loadFlConfigJson());

  it('are read from the repository’s file, and default when the section is left out', () => {
    expect(loadFlConfig(undefined, { env: {} }).rateLimits).toEqual(DEFAULT_RATE_LIMITS);
    const raw = repoConfig();
    delete raw['rateLimits'];
    expect(parseFlConfig(raw, { env: {} }).rateLimits).toEqual(DEFAULT_RATE_LIMITS);
  });

  it('refuse a bad section with a message naming the key', () => {
    const bad = (rateLimits: unknown) => () => parseFlConfig({ ...repoConfig(), rateLimits }, { env: {} });
    expect(bad({ default: { requestsPerSecond: 0, burst: 10 } })).toThrow(ConfigError);
    expect(bad({ default: { requestsPerSecond: 0, burst: 10 } })).toThrow(
      /rateLimits\.default\.requestsPerSecond/,
    );
    expect(bad({ default: { requestsPerSecond: 5, burst: 1.5 } })).toThrow(/rateLimits\.default\.burst/);
    expect(
      bad({
        default: { requestsPerSecond: 5, burst: 5 },
        consumers: { 'Bad App': { requestsPerSecond: 1, burst: 1 } },
      }),
    ).toThrow(/rateLimits\.consumers/);
    expect(bad({ default: { requestsPerSecond: 5, burst: 5 }, perIp: true })).toThrow(
      /rateLimits: Unrecognized key/,
    );
  });
});

function loadFlConfigJson(): Record<string, unknown> {
  return JSON.parse(readFileSync(defaultFlConfigPath, 'utf8')) as Record<string, unknown>;
}
