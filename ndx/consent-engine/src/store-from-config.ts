import type { Pool } from '@ndx/service-kit';
import type { Config } from './config.ts';
import { systemClock, type Clock } from './clock.ts';
import { ConsentStore } from './consent-store.ts';
import type { OperatorRegistrations } from './operator-registrations.ts';

/** The consent store as configured by the service's environment. */
export function createConsentStore(
  config: Config,
  pool: Pool,
  clock: Clock = systemClock,
  registrations?: OperatorRegistrations,
): ConsentStore {
  return new ConsentStore({
    pool,
    clock,
    ...(registrations ? { registrations } : {}),
    consumers: config.CONSENT_CONSUMERS,
    purposes: config.CONSENT_PURPOSES,
    durations: config.CONSENT_DURATIONS,
    pendingTtlSeconds: config.CONSENT_PENDING_TTL_SECONDS,
    noticeVersion: config.CONSENT_NOTICE_VERSION,
  });
}
