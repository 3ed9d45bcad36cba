// The consent state machine: the statuses a consent record can have and the changes between them.
// The Consent Engine's store and its database trigger both enforce this table; the CE's test
// `consent-status-sql.test.ts` fails when the migration's CHECK constraint or trigger disagrees with it.

/** Every status of a consent record (ISO/IEC TS 27560 lifecycle, simplified). */
export const consentStatuses = ['PENDING', 'ACTIVE', 'REJECTED', 'REVOKED', 'EXPIRED'] as const;

export type ConsentStatus = (typeof consentStatuses)[number];

/** The status a new consent request starts in. */
export const initialConsentStatus = 'PENDING' satisfies ConsentStatus;

/** Which status may become which: the whole state machine. A status that maps to [] is final. */
export const consentTransitions: Readonly<Record<ConsentStatus, readonly ConsentStatus[]>> = {
  PENDING: ['ACTIVE', 'REJECTED', 'EXPIRED'],
  ACTIVE: ['REVOKED', 'EXPIRED'],
  REJECTED: [],
  REVOKED: [],
  EXPIRED: [],
};

/** Whether a consent in status `from` may change to `to` (staying in the same status is no change). */
export const canTransition = (from: ConsentStatus, to: ConsentStatus): boolean =>
  consentTransitions[from].includes(to);

/** The statuses that lapse at the record's `expiresAt` (those that may become EXPIRED). */
export const expiringConsentStatuses: readonly ConsentStatus[] = consentStatuses.filter((status) =>
  canTransition(status, 'EXPIRED'),
);

/** Whether a record in this status, with this expiry, has lapsed at `now` (and so reads as EXPIRED). */
export const hasLapsed = (status: ConsentStatus, expiresAt: Date, now: Date): boolean =>
  expiringConsentStatuses.includes(status) && expiresAt.getTime() <= now.getTime();

/** Whether the string is one of the consent statuses. */
export const isConsentStatus = (value: string): value is ConsentStatus =>
  (consentStatuses as readonly string[]).includes(value);
