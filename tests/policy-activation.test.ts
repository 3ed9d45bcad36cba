import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoCitizens } from '@ndx/synthetic-data';
import { decideInPortal } from './support/consent-portal.ts';
import { startTestStack, type TestStack } from './support/test-stack.ts';

/**
 * A policy change an operator activates through the PDP's admin API is obeyed by the very next OE query
 * (no waiting), and so is a rollback.
 */

const amara = demoCitizens.find((c) => c.nic === '199560201234')!;
const NAME_AT_BIRTH = { providerKey: 'rgd', schemaId: 'abc-212', field: 'getPersonInfo.fullName' };
const QUERY = 'query($nic: ID!) { personInfo(nic: $nic) { name fullName } }';

interface GraphQLAnswer {
  status: number;
  data?: { personInfo?: { name: unknown; fullName: unknown } | null } | null;
  errors?: { path?: (string | number)[]; extensions: { code: string; consentPortalUrl?: string } }[];
}
interface FieldRef {
  providerKey: string;
  schemaId: string;
  field: string;
}
interface Grant {
  consumerId: string;
  purpose: string;
  fields: FieldRef[];
  legalBasis: string;
  expiresAt: string | null;
}

let t: TestStack;
let passportToken: string;
let operatorToken: string;

async function query(): Promise<GraphQLAnswer> {
  const response = await fetch(`${t.url('orchestration-engine')}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${passportToken}` },
    body: JSON.stringify({ query: QUERY, variables: { nic: amara.nic } }),
  });
  return { status: response.status, ...((await response.json()) as Omit<GraphQLAnswer, 'status'>) };
}

const codesByPath = (answer: GraphQLAnswer) =>
  Object.fromEntries((answer.errors ?? []).map((e) => [(e.path ?? []).join('.'), e.extensions.code]));

async function admin(path: string, body?: unknown, method = body === undefined ? 'GET' : 'POST') {
  const response = await fetch(`${t.url('policy-decision-point')}/admin/v1${path}`, {
    method,
    headers: {
      authorization: `Bearer ${operatorToken}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const activeVersion = async () => (await admin('/versions')).body['activeVersion'] as number;

/** Stores and activates, in one call, a version whose passport grant no longer names the name at birth. */
async function withdrawNameAtBirth(): Promise<number> {
  const grants = (await admin('/grants')).body['grants'] as Grant[];
  const grant = grants.find((g) => g.consumerId === 'passport-app' && g.purpose === 'passport-application')!;
  const isNameAtBirth = (f: FieldRef) =>
    f.providerKey === NAME_AT_BIRTH.providerKey &&
    f.schemaId === NAME_AT_BIRTH.schemaId &&
    f.field === NAME_AT_BIRTH.field;
  expect(grant.fields.some(isNameAtBirth)).toBe(true);
  const changed = await admin(
    '/grants/passport-app/passport-application',
    {
      reason: 'name at birth no longer needed for passports',
      activate: true,
      fields: grant.fields.filter((f) => !isNameAtBirth(f)),
      legalBasis: grant.legalBasis,
      expiresAt: grant.expiresAt,
    },
    'PUT',
  );
  expect(changed.status).toBe(201);
  expect(changed.body).toMatchObject({ active: true });
  return changed.body['version'] as number;
}

/** Both fields released: the citizen's consent covers them and the active grant names them. */
function expectBothReleased(answer: GraphQLAnswer): void {
  expect(answer.status).toBe(200);
  expect(answer.errors).toBeUndefined();
  expect(answer.data!.personInfo).toEqual({ name: amara.birthName, fullName: amara.drpFullName });
}

/** The name at birth FORBIDDEN, the DRP full name (still granted, still consented) released. */
function expectNameForbidden(answer: GraphQLAnswer): void {
  expect(answer.status).toBe(200);
  expect(answer.data!.personInfo).toEqual({ name: null, fullName: amara.drpFullName });
  expect(codesByPath(answer)).toEqual({ 'personInfo.name': 'FORBIDDEN' });
}

beforeAll(async () => {
  t = await startTestStack({ only: ['orchestration-engine'] });
  passportToken = await t.clientToken('passport-app', 'urn:ndx:api');
  operatorToken = await t.clientToken('ndx-operator', 'urn:ndx:pdp', 'admin');
  const first = await query();
  const pending = first.errors?.find((e) => e.extensions.code === 'CONSENT_REQUIRED');
  expect(pending).toMatchObject({ extensions: { consentPortalUrl: expect.any(String) } });
  const decided = await decideInPortal({
    consentPortalUrl: pending!.extensions.consentPortalUrl!,
    redirectUri: `${t.url('passport-app')}/consent/return`,
    nic: amara.nic,
    password: amara.password,
    decision: 'approve-all',
  });
  expect(decided.status).toBe('ACTIVE');
}, 240_000);

afterAll(async () => {
  await t?.stop();
});

describe('policy activation and the next OE query', () => {
  it('a newly activated version that withdraws a grant makes the very next query FORBIDDEN for that field', async () => {
    const before = await activeVersion();
    expectBothReleased(await query());

    const withdrawn = await withdrawNameAtBirth();
    try {
      expect(withdrawn).toBeGreaterThan(before);
      expectNameForbidden(await query());
      expect(await activeVersion()).toBe(withdrawn);
    } finally {
      const back = await admin('/rollback', { reason: 'restore the grant', toVersion: before });
      expect(back.status).toBe(200);
    }
  });

  it('rolling back to the previous version makes the very next query release the field again', async () => {
    const before = await activeVersion();
    const withdrawn = await withdrawNameAtBirth();
    expectNameForbidden(await query());

    const back = await admin('/rollback', { reason: 'withdrawn by mistake' });
    expect(back.status).toBe(200);
    expect(back.body).toMatchObject({ version: before, previousVersion: withdrawn, kind: 'rollback' });
    expectBothReleased(await query());
    expect(await activeVersion()).toBe(before);
  });
});
