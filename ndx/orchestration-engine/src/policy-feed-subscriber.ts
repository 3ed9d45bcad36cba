import { randomUUID } from 'node:crypto';
import type { PolicyChange } from '@ndx/contract';
import type { Logger } from '@ndx/service-kit';

/**
 * Follows the PDP's policy change feed (GET /v1/policy-changes, long polling) and says which policy
 * version's decision tables may be trusted right now, if any.
 *
 * Each poll names the version whose tables this OE holds. An answer naming the same version renews the
 * lease: the tables are trusted until leaseMs after the poll was SENT (the PDP counts from when it received
 * it, which is later, so the PDP never thinks a lease has lapsed while the OE still trusts it). An answer
 * naming another version drops every table (onVersion) before the next poll acknowledges the new one. When
 * polls fail or hang, nothing renews the lease and `trustedVersion()` becomes null: the OE then asks the
 * PDP per request.
 */
export interface PolicyFeedSubscriber {
  /** The version whose tables are current now, or null when this OE cannot prove any version current. */
  trustedVersion(): number | null;
  stop(): void;
}

export interface PolicyFeedOptions {
  poll: (subscriber: string, version: number | undefined, holdMs: number) => Promise<PolicyChange>;
  /** Called (synchronously, before the next poll) when the active version changes: drop every table. */
  onVersion: (version: number) => void;
  logger: Logger;
  /** Monotonic milliseconds. */
  now?: () => number;
  /** Wait after a failed poll, in ms. */
  retryMs?: number;
}

export function startPolicyFeedSubscriber(options: PolicyFeedOptions): PolicyFeedSubscriber {
  const now = options.now ?? (() => performance.now());
  const retryMs = options.retryMs ?? 250;
  const subscriber = randomUUID();
  let version: number | undefined;
  let trustedUntil = 0;
  let holdMs = 1_000;
  let stopped = false;
  let failing = false;

  const loop = async () => {
    while (!stopped) {
      const sentAt = now();
      const polled = version;
      try {
        const change = await options.poll(subscriber, polled, holdMs);
        if (stopped) return;
        holdMs = change.holdMs;
        if (failing) options.logger.info({ version: change.activeVersion }, 'policy change feed back');
        failing = false;
        if (change.activeVersion === polled) {
          trustedUntil = Math.max(trustedUntil, sentAt + change.leaseMs);
        } else {
          trustedUntil = 0;
          version = change.activeVersion;
          options.onVersion(change.activeVersion);
        }
      } catch (err) {
        if (stopped) return;
        if (!failing)
          options.logger.warn({ err }, 'policy change feed unavailable; deciding per request meanwhile');
        failing = true;
        await new Promise((resolve) => setTimeout(resolve, retryMs).unref());
      }
    }
  };
  void loop();

  return {
    trustedVersion: () => (version !== undefined && now() < trustedUntil ? version : null),
    stop() {
      stopped = true;
    },
  };
}
