import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  amara,
  AUDIENCE,
  bwalya,
  call,
  CITIZEN_TEST_CLIENT,
  CITIZEN_TEST_REDIRECT,
  startHarness,
  type Harness,
} from './support/harness.ts';
import { citizenAccessToken } from '@ndx/identity-provider/testing-browser';
import {
  citizenConsentsResponseSchema,
  consentCheckResponseSchema,
  consentCreateResponseSchema,
  consentWithEventsSchema,
  servedConsentSchema,
} from '@ndx/contract';

const fields: {
  providerKey: string;
  schemaId: string;
  field: string;
  displayName?: string;
  description?: string;
}[] = [
  { providerKey: 'rgd', schemaId: 'rgd-v1', field: 'birth.fullName', displayName: 'Name at birth' },
  {
    providerKey: 'drp',
    schemaId: 'drp-v1',
    field: 'person.address',
    displayName: 'Address',
    description: 'Where you live',
  },
];

let h: Harness;
let oe: string;
let amaraToken: string;
let bwalyaToken: string;

const request = (citizenId = amara.nic, f = fields) => ({
  citizenId,
  consumerId: 'passport-app',
  purpose: 'passport-application',
  fields: f,
});

beforeAll(async () => {
  h = await startHarness();
  oe = await h.oeToken();
  const tokenFor = (c: typeof amara) =>
    citizenAccessToken({
      issuer: h.fudi.issuer,
      clientId: CITIZEN_TEST_CLIENT,
      redirectUri: CITIZEN_TEST_REDIRECT,
      nic: c.nic,
      password: c.password,
    });
  [amaraToken, bwalyaToken] = await Promise.all([tokenFor(amara), tokenFor(bwalya)]);
});

afterAll(async () => {
  await h?.stop();
});

describe('service authentication', () => {
  it('refuses a request without a token (401)', async () => {
    const res = await call(`${h.url}/v1/consents/check`, { body: request() });
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ error: { code: 'UNAUTHENTICATED' } });
  });

  it('refuses a token for another audience (401)', async () => {
    const pdpClient = await h.fudi.addServiceClient({ clientId: 'pdp-only', resources: ['urn:ndx:pdp'] });
    const token = await h.fudi.clientCredentialsToken(pdpClient, 'urn:ndx:pdp');
    const res = await call(`${h.url}/v1/consents/check`, { token, body: request() });
    expect(res.status).toBe(401);
    expect((res.body.error as { message: string }).message).toMatch(/aud/);
  });

  it('refuses a garbage token (401)', async () => {
    const res = await call(`${h.url}/v1/consents`, { token: 'not.a.jwt', body: request() });
    expect(res.status).toBe(401);
  });

  it('refuses a valid token of a client that is not an NDX service (403)', async () => {
    const app = await h.fudi.addServiceClient({ clientId: 'some-app', resources: [AUDIENCE] });
    const token = await h.fudi.clientCredentialsToken(app, AUDIENCE);
    const res = await call(`${h.url}/v1/consents/check`, { token, body: request() });
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ error: { code: 'CLIENT_NOT_ALLOWED' } });
  });

  it('refuses a citizen token on the internal API (403)', async () => {
    const res = await call(`${h.url}/v1/consents/check`, { token: amaraToken, body: request() });
    expect(res.status).toBe(403);
  });

  it('rejects a malformed body with 400 and the problems', async () => {
    const res = await call(`${h.url}/v1/consents/check`, {
      token: oe,
      body: { citizenId: amara.nic, fields: [] },
    });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: { code: 'BAD_REQUEST' } });
  });
});

describe('the consent lifecycle over the API', () => {
  it('check → create pending → citizen approves a subset → covered for that subset → revoke → not covered', async () => {
    const before = await call(`${h.url}/v1/consents/check`, { token: oe, body: request() });
    expect(before).toMatchObject({
      status: 200,
      body: { covered: false, missingFields: [{ field: 'birth.fullName' }, { field: 'person.address' }] },
    });

    const created = await call(`${h.url}/v1/consents`, { token: oe, body: request() });
    expect(created.status).toBe(201);
    const consentId = created.body.consentId as string;
    expect(created.body).toMatchObject({
      status: 'PENDING',
      consentPortalUrl: `${h.url}/consent/${consentId}`,
    });

    const again = await call(`${h.url}/v1/consents`, { token: oe, body: request() });
    expect(again).toMatchObject({ status: 200, body: { consentId, created: false } });

    const decided = await call(`${h.url}/v1/consents/${consentId}/decision`, {
      token: amaraToken,
      body: { decision: 'approve', fields: [fields[0]] },
    });
    expect(decided).toMatchObject({ status: 200, body: { status: 'ACTIVE' } });

    const subset = await call(`${h.url}/v1/consents/check`, {
      token: oe,
      body: request(amara.nic, [fields[0]!]),
    });
    expect(subset.body).toMatchObject({ covered: true, consentId });
    const all = await call(`${h.url}/v1/consents/check`, { token: oe, body: request() });
    expect(all.body).toMatchObject({
      covered: false,
      missingFields: [{ providerKey: 'drp', field: 'person.address' }],
    });

    const record = await call(`${h.url}/v1/consents/${consentId}`, { token: oe });
    expect(record.body).toMatchObject({
      consentId,
      citizenId: amara.nic,
      consumer: { id: 'passport-app', displayName: 'DIE Passport application' },
      purpose: 'passport-application',
      legalBasis: 'consent',
      status: 'ACTIVE',
    });
    expect((record.body.events as { to: string }[]).map((e) => e.to)).toEqual(['PENDING', 'ACTIVE']);

    const revoked = await call(`${h.url}/v1/consents/${consentId}/revoke`, { token: oe, method: 'POST' });
    expect(revoked).toMatchObject({ status: 200, body: { status: 'REVOKED' } });
    const afterRevoke = await call(`${h.url}/v1/consents/check`, {
      token: oe,
      body: request(amara.nic, [fields[0]!]),
    });
    expect(afterRevoke.body).toMatchObject({ covered: false });

    const revokeAgain = await call(`${h.url}/v1/consents/${consentId}/revoke`, { token: oe, method: 'POST' });
    expect(revokeAgain).toMatchObject({
      status: 409,
      body: { error: { code: 'CONSENT_INVALID_TRANSITION' } },
    });
  });

  it('20 concurrent identical creations give one consent', async () => {
    const body = request(bwalya.nic);
    const results = await Promise.all(
      Array.from({ length: 20 }, () => call(`${h.url}/v1/consents`, { token: oe, body })),
    );
    expect(new Set(results.map((r) => r.body.consentId)).size).toBe(1);
    expect(results.filter((r) => r.status === 201)).toHaveLength(1);
    const mine = await call(`${h.url}/v1/citizens/me/consents`, { token: bwalyaToken });
    expect((mine.body.consents as unknown[]).length).toBe(1);
  });

  it("a citizen cannot decide, read or revoke someone else's consent (403)", async () => {
    const created = await call(`${h.url}/v1/consents`, {
      token: oe,
      body: request(amara.nic, [{ providerKey: 'rgd', schemaId: 'rgd-v1', field: 'birth.placeOfBirth' }]),
    });
    const id = created.body.consentId as string;
    const decide = await call(`${h.url}/v1/consents/${id}/decision`, {
      token: bwalyaToken,
      body: { decision: 'approve' },
    });
    expect(decide).toMatchObject({ status: 403, body: { error: { code: 'NOT_DATA_SUBJECT' } } });
    expect((await call(`${h.url}/v1/consents/${id}`, { token: bwalyaToken })).status).toBe(403);
    expect(
      (await call(`${h.url}/v1/consents/${id}/revoke`, { token: bwalyaToken, method: 'POST' })).status,
    ).toBe(403);
    expect((await call(`${h.url}/v1/consents/${id}`, { token: amaraToken })).status).toBe(200);
  });

  it('a citizen lists only their own consents and can revoke one', async () => {
    const created = await call(`${h.url}/v1/consents`, {
      token: oe,
      body: request(amara.nic, [{ providerKey: 'rgd', schemaId: 'rgd-v1', field: 'birth.sex' }]),
    });
    const id = created.body.consentId as string;
    await call(`${h.url}/v1/consents/${id}/decision`, { token: amaraToken, body: { decision: 'approve' } });
    const mine = await call(`${h.url}/v1/citizens/me/consents`, { token: amaraToken });
    const consents = mine.body.consents as { consentId: string; citizenId: string; status: string }[];
    expect(consents.every((c) => c.citizenId === amara.nic)).toBe(true);
    expect(consents.find((c) => c.consentId === id)?.status).toBe('ACTIVE');
    const revoked = await call(`${h.url}/v1/consents/${id}/revoke`, { token: amaraToken, method: 'POST' });
    expect(revoked.body).toMatchObject({ status: 'REVOKED' });
  });

  it('the citizen API refuses a service token (403)', async () => {
    expect((await call(`${h.url}/v1/citizens/me/consents`, { token: oe })).status).toBe(403);
  });

  it('an unknown consumer or purpose is a 400 with a stable code', async () => {
    const res = await call(`${h.url}/v1/consents`, {
      token: oe,
      body: { ...request(), consumerId: 'rogue-app' },
    });
    expect(res).toMatchObject({ status: 400, body: { error: { code: 'UNKNOWN_CONSUMER' } } });
    const purpose = await call(`${h.url}/v1/consents`, {
      token: oe,
      body: { ...request(), purpose: 'marketing' },
    });
    expect(purpose).toMatchObject({ status: 400, body: { error: { code: 'UNKNOWN_PURPOSE' } } });
  });

  it('a field sent without a display name is shown to the citizen under a readable one', async () => {
    const created = await call(`${h.url}/v1/consents`, {
      token: oe,
      body: request(amara.nic, [{ providerKey: 'rgd', schemaId: 'rgd-v1', field: 'birth.dateOfBirth' }]),
    });
    expect(created.status).toBe(201);
    expect(created.body.fields).toEqual([
      {
        providerKey: 'rgd',
        schemaId: 'rgd-v1',
        field: 'birth.dateOfBirth',
        displayName: 'Date of birth',
        granted: null,
      },
    ]);
  });

  it('a NIC is one citizen whatever its letter case, spacing or hyphens', async () => {
    const district = [{ providerKey: 'rgd', schemaId: 'rgd-v1', field: 'birth.district' }];
    const created = await call(`${h.url}/v1/consents`, {
      token: oe,
      body: request(` ${bwalya.nic.toLowerCase()} `, district),
    });
    const consentId = created.body.consentId as string;
    const record = await call(`${h.url}/v1/consents/${consentId}`, { token: oe });
    expect(record.body.citizenId).toBe(bwalya.nic);
    const decided = await call(`${h.url}/v1/consents/${consentId}/decision`, {
      token: bwalyaToken,
      body: { decision: 'approve' },
    });
    expect(decided).toMatchObject({ status: 200, body: { status: 'ACTIVE' } });
    const spelled = `${bwalya.nic.slice(0, 4)}-${bwalya.nic.slice(4, 9)} ${bwalya.nic.slice(9).toLowerCase()}`;
    const coverage = await call(`${h.url}/v1/consents/check`, {
      token: oe,
      body: request(spelled, district),
    });
    expect(coverage.body).toMatchObject({ covered: true, consentId });
  });

  it('a citizen id that is not a NIC is refused with 400', async () => {
    for (const path of ['/v1/consents/check', '/v1/consents']) {
      const res = await call(`${h.url}${path}`, { token: oe, body: request('someone-else') });
      expect(res).toMatchObject({ status: 400, body: { error: { code: 'BAD_REQUEST' } } });
    }
  });

  it('an unknown consent id is 404', async () => {
    const res = await call(`${h.url}/v1/consents/00000000-0000-4000-8000-000000000000`, { token: oe });
    expect(res).toMatchObject({ status: 404, body: { error: { code: 'CONSENT_NOT_FOUND' } } });
  });
});

describe('the API answers in the shapes @ndx/contract declares', () => {
  it('create, check, read, decide, list and revoke answer exactly the contract’s fields', async () => {
    const mother = [
      { providerKey: 'rgd', schemaId: 'rgd-v1', field: 'birth.motherName', displayName: 'Mother' },
    ];
    const created = await call(`${h.url}/v1/consents`, { token: oe, body: request(amara.nic, mother) });
    const consentId = consentCreateResponseSchema.strict().parse(created.body).consentId;
    const checked = await call(`${h.url}/v1/consents/check`, { token: oe, body: request(amara.nic, mother) });
    expect(consentCheckResponseSchema.strict().parse(checked.body)).toEqual({
      covered: false,
      consentIds: [],
      coveredBy: [],
      missingFields: [{ providerKey: 'rgd', schemaId: 'rgd-v1', field: 'birth.motherName' }],
    });
    const read = await call(`${h.url}/v1/consents/${consentId}`, { token: oe });
    expect(consentWithEventsSchema.strict().parse(read.body)).toMatchObject({ consentId, status: 'PENDING' });
    const decided = await call(`${h.url}/v1/consents/${consentId}/decision`, {
      token: amaraToken,
      body: { decision: 'approve' },
    });
    expect(servedConsentSchema.strict().parse(decided.body)).toMatchObject({ consentId, status: 'ACTIVE' });
    const covered = await call(`${h.url}/v1/consents/check`, { token: oe, body: request(amara.nic, mother) });
    expect(consentCheckResponseSchema.strict().parse(covered.body)).toEqual({
      covered: true,
      consentId,
      consentIds: [consentId],
      coveredBy: [{ providerKey: 'rgd', schemaId: 'rgd-v1', field: 'birth.motherName', consentId }],
      missingFields: [],
    });
    const mine = await call(`${h.url}/v1/citizens/me/consents`, { token: amaraToken });
    const listed = citizenConsentsResponseSchema.strict().parse(mine.body);
    expect(listed.consents.find((c) => c.consentId === consentId)?.status).toBe('ACTIVE');
    const revoked = await call(`${h.url}/v1/consents/${consentId}/revoke`, { token: oe, method: 'POST' });
    expect(servedConsentSchema.strict().parse(revoked.body)).toMatchObject({ consentId, status: 'REVOKED' });
  });
});
