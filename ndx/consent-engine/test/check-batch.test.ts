/**
 * POST /v1/consents/checks: the checks of several queries in one call, each answered exactly as
 * POST /v1/consents/check answers it, in order, from the consents as they are when the call arrives.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { citizenAccessToken } from '@ndx/identity-provider/testing-browser';
import { consentCheckBatchResponseSchema, MAX_CONSENT_CHECKS_PER_CALL } from '@ndx/contract';
import {
  amara,
  bwalya,
  call,
  CITIZEN_TEST_CLIENT,
  CITIZEN_TEST_REDIRECT,
  startHarness,
  type Harness,
} from './support/harness.ts';

const name = {
  providerKey: 'rgd',
  schemaId: 'rgd-v1',
  field: 'birth.fullName',
  displayName: 'Name at birth',
};
const address = { providerKey: 'drp', schemaId: 'drp-v1', field: 'person.address', displayName: 'Address' };
const sex = { providerKey: 'rgd', schemaId: 'rgd-v1', field: 'birth.sex', displayName: 'Sex' };

const check = (citizenId: string, fields: (typeof name)[]) => ({
  citizenId,
  consumerId: 'passport-app',
  purpose: 'passport-application',
  fields,
});

let h: Harness;
let oe: string;
let amaraToken: string;

/** Amara grants `granted` of a request for `asked`; the consent's id. */
async function grant(asked: (typeof name)[], granted: (typeof name)[]): Promise<string> {
  const created = await call(`${h.url}/v1/consents`, { token: oe, body: check(amara.nic, asked) });
  expect(created.status).toBe(201);
  const consentId = created.body.consentId as string;
  const decided = await call(`${h.url}/v1/consents/${consentId}/decision`, {
    token: amaraToken,
    body: { decision: 'approve', fields: granted },
  });
  expect(decided).toMatchObject({ status: 200, body: { status: 'ACTIVE' } });
  return consentId;
}

const batch = async (checks: unknown[], token = oe) =>
  call(`${h.url}/v1/consents/checks`, { token, body: { checks } });
const single = async (body: unknown) => (await call(`${h.url}/v1/consents/check`, { token: oe, body })).body;

beforeAll(async () => {
  h = await startHarness();
  oe = await h.oeToken();
  amaraToken = await citizenAccessToken({
    issuer: h.fudi.issuer,
    clientId: CITIZEN_TEST_CLIENT,
    redirectUri: CITIZEN_TEST_REDIRECT,
    nic: amara.nic,
    password: amara.password,
  });
});

afterAll(async () => {
  await h?.stop();
});

describe('several coverage checks in one call', () => {
  it('answers each check as the single check does, in the order sent, newest grant first; a revocation is seen by the next call', async () => {
    const older = await grant([name, address], [name, address]);
    const newer = await grant([sex], [sex]);
    const checks = [
      check(amara.nic, [name, address, sex]),
      check(bwalya.nic, [name]),
      check(amara.nic, [address]),
      check(amara.nic, [sex]),
    ];
    const answer = await batch(checks);
    expect(answer.status).toBe(200);
    const { results } = consentCheckBatchResponseSchema.parse(answer.body);
    expect(results).toEqual(await Promise.all(checks.map(async (c) => ({ ok: await single(c) }))));
    expect(results).toEqual([
      {
        ok: {
          covered: true,
          consentId: newer,
          consentIds: [newer, older],
          coveredBy: [
            { ...ref(name), consentId: older },
            { ...ref(address), consentId: older },
            { ...ref(sex), consentId: newer },
          ],
          missingFields: [],
        },
      },
      { ok: { covered: false, consentIds: [], coveredBy: [], missingFields: [ref(name)] } },
      {
        ok: {
          covered: true,
          consentId: older,
          consentIds: [older],
          coveredBy: [{ ...ref(address), consentId: older }],
          missingFields: [],
        },
      },
      {
        ok: {
          covered: true,
          consentId: newer,
          consentIds: [newer],
          coveredBy: [{ ...ref(sex), consentId: newer }],
          missingFields: [],
        },
      },
    ]);

    const revoked = await call(`${h.url}/v1/consents/${older}/revoke`, { token: oe, method: 'POST' });
    expect(revoked).toMatchObject({ status: 200, body: { status: 'REVOKED' } });
    const after = consentCheckBatchResponseSchema.parse((await batch([check(amara.nic, [address])])).body);
    expect(after.results).toEqual([
      { ok: { covered: false, consentIds: [], coveredBy: [], missingFields: [ref(address)] } },
    ]);
  });

  it('refuses a malformed check alone: the others in the call are answered', async () => {
    const answer = await batch([check(bwalya.nic, [sex]), { ...check('not a nic', [sex]) }]);
    expect(answer.status).toBe(200);
    const { results } = consentCheckBatchResponseSchema.parse(answer.body);
    expect(results).toHaveLength(2);
    expect(results[0]).toEqual({
      ok: { covered: false, consentIds: [], coveredBy: [], missingFields: [ref(sex)] },
    });
    expect(results[1]).toMatchObject({ error: { code: 'BAD_REQUEST' } });
    expect((results[1] as { error: { message: string } }).error.message).toMatch(/citizenId/);
  });

  it('takes a service token only, and between 1 and MAX_CONSENT_CHECKS_PER_CALL checks', async () => {
    const one = [check(bwalya.nic, [sex])];
    expect((await call(`${h.url}/v1/consents/checks`, { body: { checks: one } })).status).toBe(401);
    expect((await batch(one, amaraToken)).status).toBe(403);
    expect((await batch([])).status).toBe(400);
    const tooMany = Array.from({ length: MAX_CONSENT_CHECKS_PER_CALL + 1 }, () => one[0]);
    expect((await batch(tooMany)).status).toBe(400);
    const most = Array.from({ length: MAX_CONSENT_CHECKS_PER_CALL }, () => one[0]);
    const answer = await batch(most);
    expect(answer.status).toBe(200);
    expect(consentCheckBatchResponseSchema.parse(answer.body).results).toHaveLength(
      MAX_CONSENT_CHECKS_PER_CALL,
    );
  });
});

function ref(field: typeof name) {
  return { providerKey: field.providerKey, schemaId: field.schemaId, field: field.field };
}
