import { randomUUID } from 'node:crypto';
import type { AuditRecordInput } from '../src/index.ts';

export const AMARA = '199560201234';
export const BWALYA = '852321234V';

/**
 * A realistic passport query record for one citizen (never any released values): the name released by
 * policy, the address under the citizen's consent, the profession forbidden.
 */
export function passportRecord(
  citizenId: string,
  overrides: Partial<AuditRecordInput> = {},
): AuditRecordInput {
  const consentId = randomUUID();
  return {
    traceId: randomUUID().replaceAll('-', ''),
    consumerId: 'passport-app',
    purpose: 'passport-application',
    citizenId,
    operationName: 'PassportApplication',
    fieldsRequested: [
      { providerKey: 'RGD', schemaId: 'rgd-v1', field: 'person.fullName' },
      { providerKey: 'DRP', schemaId: 'drp-v1', field: 'person.address' },
      { providerKey: 'DRP', schemaId: 'drp-v1', field: 'person.profession' },
    ],
    fieldsReleased: [
      {
        providerKey: 'RGD',
        schemaId: 'rgd-v1',
        field: 'person.fullName',
        allowedBy: { basis: 'policy', policyIds: ['grant'] },
      },
      {
        providerKey: 'DRP',
        schemaId: 'drp-v1',
        field: 'person.address',
        allowedBy: { basis: 'consent', consentId },
      },
    ],
    fieldsWithheld: [
      { providerKey: 'DRP', schemaId: 'drp-v1', field: 'person.profession', reason: 'FORBIDDEN' },
    ],
    decisionId: randomUUID(),
    policyVersion: '7',
    consentId,
    providers: [
      { providerKey: 'RGD', latencyMs: 12.5, outcome: 'OK', httpStatus: 200 },
      { providerKey: 'DRP', latencyMs: 30, outcome: 'OK', httpStatus: 200, attempts: 1 },
    ],
    timings: { validate: 0.31, plan: 0.05, pdp: 4.2, ce: 3.1, 'provider.RGD': 12.5, 'provider.DRP': 30 },
    outcome: 'PARTIAL',
    ...overrides,
  };
}
