import { NdxError, type Logger } from '@ndx/service-kit';
import type { PolicyChange } from '@ndx/contract';

/**
 * The policy change feed (GET /v1/policy-changes, long polling) and the leases of its subscribers.
 *
 * A subscriber (an OE process) polls with the version whose decision tables it holds. A poll naming the
 * active version renews the subscriber's lease: leaseMs from when the PDP received it; the subscriber, for
 * its part, trusts its tables until leaseMs after it SENT that poll, which is never later. A poll naming
 * another version does not renew anything and is answered at once with the active version: the subscriber
 * drops its tables and polls again with it (which acknowledges the new version).
 *
 * An activation returns only once every subscriber has acknowledged the new version or its lease has
 * lapsed (`settled`), so at most leaseMs; nor before leaseMs after this process started (leases granted by
 * an earlier process are unknown to it). After that, no OE holds a table of an older version it trusts.
 */
export interface PolicyFeed {
  /** Answers one poll (holding it up to holdMs when nothing changed); `closed` resolves when the caller hung up. */
  poll(subscriber: string, version: number | undefined, closed: Promise<void>): Promise<PolicyChange>;
  /** Wakes every held poll: the active version changed. */
  changed(): void;
  /** Resolves when every live subscriber acknowledged the active version or its lease lapsed (bounded by leaseMs). */
  settled(): Promise<{ subscribers: number; acknowledged: number; lapsed: number; waitedMs: number }>;
  stop(): void;
}

/** More subscribers than the feed keeps leases for. */
export class FeedFullError extends NdxError {
  constructor() {
    super('FEED_FULL', 'the policy change feed has no room for another subscriber', 503);
  }
}

interface Subscriber {
  version: number | undefined;
  leaseUntil: number;
}

export function createPolicyFeed(options: {
  activeVersion: () => number;
  leaseMs: number;
  holdMs: number;
  logger: Logger;
  maxSubscribers?: number;
  /** Monotonic milliseconds (leases never follow the wall clock). */
  now?: () => number;
}): PolicyFeed {
  const { leaseMs, holdMs, logger } = options;
  const now = options.now ?? (() => performance.now());
  const maxSubscribers = options.maxSubscribers ?? 10_000;
  const startedAt = now();
  const subscribers = new Map<string, Subscriber>();
  let wake = new Set<() => void>();
  let stopped = false;

  const answer = (): PolicyChange => ({ activeVersion: options.activeVersion(), leaseMs, holdMs });
  const forgetLapsed = () => {
    const t = now();
    for (const [id, s] of subscribers) if (s.leaseUntil <= t) subscribers.delete(id);
  };

  return {
    async poll(id, version, closed) {
      const active = options.activeVersion();
      let subscriber = subscribers.get(id);
      const known = subscriber !== undefined && subscriber.version === version;
      if (!subscriber) {
        if (subscribers.size >= maxSubscribers) forgetLapsed();
        if (subscribers.size >= maxSubscribers) throw new FeedFullError();
        subscriber = { version, leaseUntil: 0 };
        subscribers.set(id, subscriber);
      }
      subscriber.version = version;
      if (version !== active) return answer();
      subscriber.leaseUntil = now() + leaseMs;
      // An acknowledgement of a new version (or a first poll) is answered at once, so the lease starts now.
      if (!known || stopped) return answer();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, holdMs);
        function done() {
          clearTimeout(timer);
          wake.delete(done);
          resolve();
        }
        wake.add(done);
        void closed.then(done);
      });
      return answer();
    },
    changed() {
      const waiting = wake;
      wake = new Set();
      for (const done of waiting) done();
    },
    async settled() {
      const started = now();
      const deadline = Math.max(started, startedAt) + leaseMs + 50;
      let acknowledged: number;
      let lapsed: number;
      const count = subscribers.size;
      for (;;) {
        const t = now();
        const active = options.activeVersion();
        acknowledged = 0;
        lapsed = 0;
        let waiting = 0;
        for (const s of subscribers.values()) {
          if (s.version === active) acknowledged++;
          else if (s.leaseUntil <= t) lapsed++;
          else waiting++;
        }
        if ((waiting === 0 && t >= startedAt + leaseMs) || t >= deadline || stopped) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      forgetLapsed();
      const waitedMs = Math.round(now() - started);
      logger.info({ subscribers: count, acknowledged, lapsed, waitedMs }, 'policy activation settled');
      return { subscribers: count, acknowledged, lapsed, waitedMs };
    },
    stop() {
      stopped = true;
      this.changed();
    },
  };
}
