// The consent state machine as the Consent Engine applies it: which change a decision, a revocation or
// a lapse makes, and who may make it. Pure functions over records; the statuses and the allowed
// transitions are the contract's (`@ndx/contract` consent-status), and consent-store.ts applies the
// changes in one transaction each.
import {
  canTransition,
  fieldKey,
  hasLapsed,
  type ConsentActor,
  type ConsentField,
  type ConsentStatus,
  type ServedConsent,
} from '@ndx/contract';
import { BadRequestError } from '@ndx/service-kit';
import { InvalidTransitionError, NotDataSubjectError } from './errors.ts';

/** A consent record as the store keeps it (the API serves it with the consumer and the portal URL added). */
export type ConsentRecord = Omit<ServedConsent, 'consentId' | 'consumer' | 'consentPortalUrl'>;

/** approve with fieldKeys undefined = every requested field; an empty decision is a deny. */
export type Decision = { approve: true; fieldKeys?: string[] } | { approve: false };

/** What a change sets besides the status. */
export interface ChangeSet {
  fields?: ConsentField[];
  decidedAt?: Date;
  grantedAt?: Date;
  expiresAt?: Date;
  revokedAt?: Date;
}

/** One step of the state machine: the new status, what else changes, and the details its event records. */
export interface Change {
  to: ConsentStatus;
  set: ChangeSet;
  details: Record<string, unknown>;
}

/** Who records a lapse found while answering a request or applying a change. */
export const expiryActor: ConsentActor = { type: 'system', id: 'expiry' };
/** Who records the lapses the periodic sweep finds. */
export const sweepActor: ConsentActor = { type: 'system', id: 'expiry-sweep' };

/** A lapse: the record's expiry passed while it was pending or active. */
export const expiryChange: Change = { to: 'EXPIRED', set: {}, details: {} };

/** The record as it stands at `now`: a pending or active one past its expiry reads as EXPIRED before the sweep marks it. */
export function asOf(record: ConsentRecord, now: Date): ConsentRecord {
  return isLapsed(record, now) ? { ...record, status: 'EXPIRED' } : record;
}

/** Whether the record's expiry passed while it was still pending or active. */
export const isLapsed = (record: ConsentRecord, now: Date): boolean =>
  hasLapsed(record.status, new Date(record.expiresAt), now);

/** Refuses a change the state machine does not allow (409 CONSENT_INVALID_TRANSITION). */
export function requireTransition(record: ConsentRecord, to: ConsentStatus): void {
  if (!canTransition(record.status, to)) throw new InvalidTransitionError(record.id, record.status, to);
}

/** A citizen may act only on their own consents; services (the OE, operators) on any. */
export function requireDataSubject(record: ConsentRecord, actor: ConsentActor): void {
  if (actor.type === 'citizen' && record.citizenId !== actor.id) throw new NotDataSubjectError();
}

/** The data subject's answer to a pending request: ACTIVE for the fields approved, or REJECTED. */
export function decisionChange(record: ConsentRecord, decision: Decision, now: Date): Change {
  if (!decision.approve) {
    return {
      to: 'REJECTED',
      set: { decidedAt: now, fields: record.fields.map((f) => ({ ...f, granted: false })) },
      details: { noticeVersion: record.noticeVersion },
    };
  }
  const keys = new Set(decision.fieldKeys ?? record.fields.map(fieldKey));
  const known = new Set(record.fields.map(fieldKey));
  const unknown = [...keys].filter((k) => !known.has(k));
  if (unknown.length > 0) throw new BadRequestError('fields not in this request', { fields: unknown });
  if (keys.size === 0) throw new BadRequestError('choose at least one field to approve, or deny');
  const fields = record.fields.map((f) => ({ ...f, granted: keys.has(fieldKey(f)) }));
  return {
    to: 'ACTIVE',
    set: {
      decidedAt: now,
      grantedAt: now,
      expiresAt: new Date(now.getTime() + record.durationSeconds * 1000),
      fields,
    },
    details: {
      noticeVersion: record.noticeVersion,
      granted: fields.filter((f) => f.granted).map(fieldKey),
      declined: fields.filter((f) => !f.granted).map(fieldKey),
    },
  };
}

/** Ending an active consent. */
export const revocationChange = (now: Date): Change => ({
  to: 'REVOKED',
  set: { revokedAt: now },
  details: {},
});
