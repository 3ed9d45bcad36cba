import { describe, expect, it } from 'vitest';
import {
  canTransition,
  consentStatuses,
  expiringConsentStatuses,
  hasLapsed,
  initialConsentStatus,
  isConsentStatus,
} from '../src/consent-status.ts';

describe('the consent state machine', () => {
  it('a request opens PENDING; it can be approved, denied or lapse; an active consent revoked or lapse; nothing else', () => {
    const allowed = consentStatuses.flatMap((from) =>
      consentStatuses.filter((to) => canTransition(from, to)).map((to) => `${from} → ${to}`),
    );
    expect(initialConsentStatus).toBe('PENDING');
    expect(allowed).toEqual([
      'PENDING → ACTIVE',
      'PENDING → REJECTED',
      'PENDING → EXPIRED',
      'ACTIVE → REVOKED',
      'ACTIVE → EXPIRED',
    ]);
  });

  it('only a pending or active consent lapses, at its expiry instant and not a millisecond before', () => {
    const expiry = new Date('2026-03-31T09:00:00.000Z');
    const before = new Date(expiry.getTime() - 1);
    expect(expiringConsentStatuses).toEqual(['PENDING', 'ACTIVE']);
    expect(
      consentStatuses.map((s) => [s, hasLapsed(s, expiry, before), hasLapsed(s, expiry, expiry)]),
    ).toEqual([
      ['PENDING', false, true],
      ['ACTIVE', false, true],
      ['REJECTED', false, false],
      ['REVOKED', false, false],
      ['EXPIRED', false, false],
    ]);
  });

  it('recognises exactly the five statuses, spelled in upper case', () => {
    expect(['PENDING', 'ACTIVE', 'REJECTED', 'REVOKED', 'EXPIRED'].every(isConsentStatus)).toBe(true);
    expect(['active', 'GRANTED', '', 'PENDING '].filter(isConsentStatus)).toEqual([]);
  });
});
