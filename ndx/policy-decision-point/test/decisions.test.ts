import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { policyDecisionResponseSchema } from '@ndx/contract';
import { call, startHarness, type Harness } from './support/pdp-harness.ts';

let h: Harness;
beforeAll(async () => {
  h = await startHarness('pdp_decisions');
});
afterAll(async () => {
  await h?.stop();
});

const rgd = (field: string) => ({ providerKey: 'rgd', schemaId: 'abc-212', field });
const drp = (field: string) => ({ providerKey: 'drp', schemaId: 'drp-schema-v1', field });
const dmt = (field: string) => ({ providerKey: 'dmt', schemaId: 'dmt-schema-v1', field });

const decide = (body: unknown, token = h.tokens.oe) => call(h.pdp.url, '/v1/decisions', { token, body });

describe('POST /v1/decisions', () => {
  it('answers per field with the policy ids and version, as the OE expects', async () => {
    const { status, body } = await decide({
      consumerId: 'passport-app',
      purpose: 'passport-application',
      subjectId: '199012345678',
      fields: [
        rgd('getPersonInfo.fullName'),
        drp('person.permanentAddress'),
        rgd('getPersonInfo.motherNic'),
        dmt('vehicle.make'),
      ],
    });
    expect(status).toBe(200);
    // The OE parses the answer with the same contract schema; a field the schema does not know is dropped.
    expect(policyDecisionResponseSchema.parse(body)).toEqual(body);
    expect(body.decisionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.policyVersion).toBe(1);
    expect(body.fields).toEqual([
      {
        ...rgd('getPersonInfo.fullName'),
        decision: 'CONSENT_REQUIRED',
        policyIds: ['personal-data-needs-consent', 'grant'],
        reason: 'CONSENT_REQUIRED',
        displayName: 'Name at birth',
        description: 'Full name as registered at birth',
      },
      {
        ...drp('person.permanentAddress'),
        decision: 'CONSENT_REQUIRED',
        policyIds: ['personal-data-needs-consent', 'grant'],
        reason: 'CONSENT_REQUIRED',
        displayName: 'Permanent address',
        description: 'Permanent residential address',
      },
      {
        ...rgd('getPersonInfo.motherNic'),
        decision: 'DENY',
        policyIds: ['personal-data-needs-consent'],
        reason: 'NOT_GRANTED',
        displayName: "Mother's NIC",
        description: "Mother's NIC on the birth record",
      },
      {
        ...dmt('vehicle.make'),
        decision: 'DENY',
        policyIds: [],
        reason: 'NOT_GRANTED',
        displayName: 'Make',
        description: 'Make of a registered vehicle',
      },
    ]);
  });

  it('permits the traffic police vehicle fields without consent inside its window and denies them outside (OUTSIDE_TIME_WINDOW)', async () => {
    const request = {
      consumerId: 'traffic-police-app',
      purpose: 'traffic-enforcement',
      subjectId: '199012345678',
      fields: [dmt('vehiclesByOwner.registrationNumber'), dmt('vehicleClasses.className')],
    };
    h.clock.now = new Date('2026-03-10T08:00:00Z'); // 10:00 Farajaland
    const day = await decide(request);
    expect(day.body.fields.map((f: { decision: string }) => f.decision)).toEqual(['PERMIT', 'PERMIT']);
    h.clock.now = new Date('2026-03-10T21:30:00Z'); // 23:30 Farajaland
    try {
      const night = await decide(request);
      expect(night.body.fields.map((f: { decision: string }) => f.decision)).toEqual(['DENY', 'PERMIT']);
      expect(night.body.fields[0]).toMatchObject({
        reason: 'OUTSIDE_TIME_WINDOW',
        policyIds: ['grant-time-window'],
      });
    } finally {
      h.clock.now = new Date('2026-03-10T08:00:00Z');
    }
  });

  it('denies an unknown consumer, an unregistered purpose and unknown fields without failing the request', async () => {
    const unknownConsumer = await decide({
      consumerId: 'nobody',
      purpose: 'passport-application',
      subjectId: 'x',
      fields: [drp('person.nic')],
    });
    expect(unknownConsumer.status).toBe(200);
    expect(unknownConsumer.body.fields[0]).toMatchObject({ decision: 'DENY', reason: 'UNKNOWN_CONSUMER' });

    const purpose = await decide({
      consumerId: 'passport-app',
      purpose: 'marketing',
      subjectId: 'x',
      fields: [drp('person.nic')],
    });
    expect(purpose.body.fields[0]).toMatchObject({ decision: 'DENY', reason: 'PURPOSE_NOT_REGISTERED' });

    const unknownField = await decide({
      consumerId: 'passport-app',
      purpose: 'passport-application',
      subjectId: 'x',
      fields: [{ providerKey: 'zzz', schemaId: '???', field: 'not a path!' }, drp('person.nic')],
    });
    expect(unknownField.status).toBe(200);
    expect(
      unknownField.body.fields.map((f: { decision: string; reason: string }) => [f.decision, f.reason]),
    ).toEqual([
      ['DENY', 'UNKNOWN_FIELD'],
      ['CONSENT_REQUIRED', 'CONSENT_REQUIRED'],
    ]);
  });

  it('rejects a malformed request with 400 BAD_REQUEST', async () => {
    const { status, body } = await decide({ consumerId: 'passport-app', fields: 'all' });
    expect(status).toBe(400);
    expect(body.error.code).toBe('BAD_REQUEST');
  });
});

describe('who may ask', () => {
  const request = {
    consumerId: 'passport-app',
    purpose: 'passport-application',
    subjectId: 'x',
    fields: [drp('person.nic')],
  };

  it('answers 401 without a token', async () => {
    const { status, body } = await call(h.pdp.url, '/v1/decisions', { body: request });
    expect(status).toBe(401);
    expect(body.error.code).toBe('UNAUTHENTICATED');
  });

  it('answers 401 to a token for another audience (a consumer app token for the NDX API)', async () => {
    const { status, body } = await decide(request, h.tokens.consumer);
    expect(status).toBe(401);
    expect(body.error.message).toMatch(/aud/);
  });

  it('answers 401 to a forged or tampered token', async () => {
    const [header, payload] = h.tokens.oe.split('.');
    const { status } = await decide(request, `${header}.${payload}.AAAA`);
    expect(status).toBe(401);
  });

  it('answers 403 to a valid PDP token of a client that is not allowed to ask', async () => {
    const { status, body } = await decide(request, h.tokens.stranger);
    expect(status).toBe(403);
    expect(body.error.code).toBe('FORBIDDEN');
  });
});
