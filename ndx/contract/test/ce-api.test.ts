import { describe, expect, it } from 'vitest';
import {
  consentApiPaths,
  consentCheckResponseSchema,
  consentDecisionRequestSchema,
  consentRequestSchema,
  servedConsentSchema,
} from '../src/ce-api.ts';

const field = { providerKey: 'rgd', schemaId: 'abc-212', field: 'getPersonInfo.fullName' };
const request = { citizenId: '852321234V', consumerId: 'passport-app', purpose: 'passport-application' };

describe('the Consent Engine API schemas', () => {
  it('a consent request carries the citizen’s NIC in canonical form and the fields with what the citizen is shown', () => {
    const parsed = consentRequestSchema.parse({
      ...request,
      citizenId: ' 8523-21234 v ',
      fields: [{ ...field, displayName: 'Name at birth', description: 'As registered' }, field],
    });
    expect(parsed).toEqual({
      ...request,
      fields: [{ ...field, displayName: 'Name at birth', description: 'As registered' }, field],
    });
  });

  it.each([
    ['a citizen id that is not a NIC', { ...request, citizenId: 'someone-else', fields: [field] }],
    ['no fields', { ...request, fields: [] }],
    ['more than 500 fields', { ...request, fields: Array.from({ length: 501 }, () => field) }],
    ['an empty display name', { ...request, fields: [{ ...field, displayName: '' }] }],
    ['a field without its provider', { ...request, fields: [{ schemaId: 'abc-212', field: 'x' }] }],
    ['no purpose', { citizenId: request.citizenId, consumerId: request.consumerId, fields: [field] }],
  ])('a consent request with %s is refused', (_what, body) => {
    expect(consentRequestSchema.safeParse(body).success).toBe(false);
  });

  it('a check answer always lists the contributing consents, which consent covers which field, and the missing fields', () => {
    const covered = { providerKey: 'drp', schemaId: 'drp-v1', field: 'person.address', consentId: 'c-1' };
    expect(
      consentCheckResponseSchema.parse({
        covered: false,
        consentIds: ['c-1'],
        coveredBy: [covered],
        missingFields: [field],
      }),
    ).toEqual({ covered: false, consentIds: ['c-1'], coveredBy: [covered], missingFields: [field] });
    expect(consentCheckResponseSchema.safeParse({ covered: true, missingFields: [] }).success).toBe(false);
    expect(
      consentCheckResponseSchema.safeParse({ covered: false, consentIds: [], missingFields: [field] })
        .success,
    ).toBe(false);
    expect(
      consentCheckResponseSchema.safeParse({
        covered: true,
        consentIds: ['c-1'],
        coveredBy: [{ providerKey: 'drp', schemaId: 'drp-v1', field: 'person.address' }],
        missingFields: [],
      }).success,
    ).toBe(false);
  });

  it('a served consent has one of the state machine’s statuses', () => {
    const consent = {
      consentId: 'c1',
      id: 'c1',
      citizenId: '852321234V',
      consumerId: 'passport-app',
      purpose: 'passport-application',
      purposeText: 'For your passport',
      legalBasis: 'consent',
      fields: [{ ...field, displayName: 'Name at birth', granted: true }],
      status: 'ACTIVE',
      noticeVersion: '2026-01',
      durationSeconds: 2_592_000,
      createdAt: '2026-03-01T09:00:00.000Z',
      decidedAt: '2026-03-01T09:05:00.000Z',
      grantedAt: '2026-03-01T09:05:00.000Z',
      expiresAt: '2026-03-31T09:05:00.000Z',
      revokedAt: null,
      consumer: { id: 'passport-app', displayName: 'DIE Passport application', agency: 'DIE' },
      consentPortalUrl: 'http://127.0.0.1:8081/consent/c1',
    };
    expect(servedConsentSchema.parse(consent)).toEqual(consent);
    expect(servedConsentSchema.safeParse({ ...consent, status: 'GRANTED' }).success).toBe(false);
  });

  it('a decision approves every field, approves some, or denies; nothing else', () => {
    expect(consentDecisionRequestSchema.parse({ decision: 'approve' })).toEqual({ decision: 'approve' });
    expect(consentDecisionRequestSchema.parse({ decision: 'approve', fields: [field] })).toEqual({
      decision: 'approve',
      fields: [field],
    });
    expect(consentDecisionRequestSchema.parse({ decision: 'deny' })).toEqual({ decision: 'deny' });
    expect(consentDecisionRequestSchema.safeParse({ decision: 'maybe' }).success).toBe(false);
  });

  it('a consent id is one path segment of the API’s URLs', () => {
    expect(consentApiPaths.consent('a/b')).toBe('/v1/consents/a%2Fb');
    expect(consentApiPaths.revoke('c1')).toBe('/v1/consents/c1/revoke');
    expect(consentApiPaths.decision('c1')).toBe('/v1/consents/c1/decision');
  });
});
