/**
 * What the audit log and the citizen's access log say about a query, on the real stack: the same record
 * and audit whatever the NIC's spelling; a field a provider failed on (a GraphQL error inside HTTP 200)
 * is withheld as PROVIDER_ERROR, never "released"; the reference citizens quote is NDX's own, never the
 * caller's traceparent; the end user an app names is recorded as asserted by it; and a partial release
 * names the consent that allowed each shared field and the new request only as asked for.
 */
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportCitizenRecords, type AuditRecord } from '@ndx/audit';
import { browse, CookieJar, submitFudiLogin } from '@ndx/identity-provider/testing-browser';
import { testLogger } from '@ndx/service-kit/testing';
import { demoCitizens } from '@ndx/synthetic-data';
import { buildApp } from '@ndx/orchestration-engine';
import { readConfig } from '@ndx/orchestration-engine/config';
import { decideInPortal } from './support/consent-portal.ts';
import { startFaultProvider, type FaultProvider } from './support/fault-provider.ts';
import { startTestStack, type TestStack } from './support/test-stack.ts';

type Citizen = (typeof demoCitizens)[number];
const citizen = (nic: string): Citizen => demoCitizens.find((c) => c.nic === nic)!;
/** Has the local stack's demo consent to the whole passport query. */
const daliso = citizen('783345678V');
/** Has no consent until a test gives one. */
const esther = citizen('199066604567');

const PASSPORT_QUERY = `query Passport($nic: ID!) {
  personInfo(nic: $nic) {
    fullName name otherNames address profession dateOfBirth sex
    birthInfo { birthRegistrationNumber birthPlace district }
  }
}`;
/** The provider field behind each path of the passport query. */
const PROVIDER_FIELD: Record<string, string> = {
  'personInfo.fullName': 'drp person.fullName',
  'personInfo.name': 'rgd getPersonInfo.fullName',
  'personInfo.otherNames': 'drp person.otherNames',
  'personInfo.address': 'drp person.permanentAddress',
  'personInfo.profession': 'drp person.profession',
  'personInfo.dateOfBirth': 'rgd getPersonInfo.dateOfBirth',
  'personInfo.sex': 'rgd getPersonInfo.sex',
  'personInfo.birthInfo.birthRegistrationNumber': 'rgd getPersonInfo.birthRegistrationNumber',
  'personInfo.birthInfo.birthPlace': 'rgd getPersonInfo.birthPlace',
  'personInfo.birthInfo.district': 'rgd getPersonInfo.district',
};
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

interface Answer {
  status: number;
  reference: string | null;
  data?: { personInfo?: Record<string, unknown> | null } | null;
  errors?: {
    message: string;
    path?: (string | number)[];
    extensions: Record<string, unknown> & { code: string };
  }[];
}

let t: TestStack;
let passportToken: string;
let auditPool: pg.Pool;
let drp: FaultProvider;
const cleanups: (() => Promise<unknown>)[] = [];

async function passportQuery(
  nic: string,
  headers: Record<string, string> = {},
  oeUrl = t.url('orchestration-engine'),
): Promise<Answer> {
  const response = await fetch(`${oeUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${passportToken}`, ...headers },
    body: JSON.stringify({ query: PASSPORT_QUERY, variables: { nic } }),
  });
  return {
    status: response.status,
    reference: response.headers.get('ndx-audit-reference'),
    ...((await response.json()) as object),
  };
}

/** Every audit record with this reference (one per data subject of the request). */
async function recordsOf(nic: string, reference: string): Promise<AuditRecord[]> {
  const found: AuditRecord[] = [];
  for await (const record of exportCitizenRecords(auditPool, nic)) {
    if (record.reference === reference) found.push(record);
  }
  return found;
}

async function recordOf(nic: string, reference: string | null): Promise<AuditRecord> {
  expect(reference).toMatch(UUID);
  const records = await recordsOf(nic, reference!);
  expect(records).toHaveLength(1);
  return records[0]!;
}

/** The value at every leaf path of the passport answer. */
function leafValues(personInfo: Record<string, unknown>): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const path of Object.keys(PROVIDER_FIELD)) {
    let value: unknown = { personInfo };
    for (const key of path.split('.')) value = (value as Record<string, unknown> | null)?.[key] ?? null;
    values[path] = value;
  }
  return values;
}

const key = (f: { providerKey: string; field: string }) => `${f.providerKey} ${f.field}`;

/**
 * The audit record says exactly what the answer holds: a field with an error on its path is withheld with
 * that error's code, every other field is released, and every non-null value is a released field.
 */
function expectAuditMatchesAnswer(record: AuditRecord, answer: Answer): void {
  const errorCodes = new Map((answer.errors ?? []).map((e) => [(e.path ?? []).join('.'), e.extensions.code]));
  const values = leafValues(answer.data!.personInfo!);
  const released = record.fieldsReleased.map(key).sort();
  const withheld = record.fieldsWithheld.map((f) => `${key(f)} ${f.reason}`).sort();
  expect(released).toEqual(
    Object.keys(PROVIDER_FIELD)
      .filter((path) => !errorCodes.has(path))
      .map((path) => PROVIDER_FIELD[path]!)
      .sort(),
  );
  expect(withheld).toEqual([...errorCodes].map(([path, code]) => `${PROVIDER_FIELD[path]} ${code}`).sort());
  for (const [path, value] of Object.entries(values)) {
    if (value !== null) expect(released).toContain(PROVIDER_FIELD[path]);
    else if (errorCodes.has(path)) expect(released).not.toContain(PROVIDER_FIELD[path]);
  }
  if (errorCodes.size === 0) expect(record.outcome).toBe('SUCCESS');
  else if (released.length > 0) expect(record.outcome).toBe('PARTIAL');
}

/** A second OE, in-process, on the stack's FUDI, PDP, CE and audit log, with DRP behind a fault proxy. */
async function startOeWithFaultyDrp(overrides: Record<string, string> = {}): Promise<string> {
  const env: Record<string, string | undefined> = {
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    DATABASE_URL: t.databaseUrl('ndx_audit'),
    FUDI_ISSUER: t.url('identity-provider'),
    PDP_URL: t.url('policy-decision-point'),
    CONSENT_ENGINE_URL: t.url('consent-engine'),
    PROVIDER_URL_RGD: t.url('rgd-api'),
    PROVIDER_URL_DRP: drp.url,
    PROVIDER_URL_DMT: t.url('dmt-api-adapter'),
    OE_CLIENT_SECRET: t.secret('fudi.client.orchestration-engine'),
    RGD_CLIENT_SECRET: t.secret('rgd.client.ndx'),
    DRP_ADAPTER_API_KEY: t.secret('drp.adapter-api-key'),
    ...overrides,
  };
  const app = await buildApp(readConfig(env), testLogger('orchestration-engine'), env);
  cleanups.push(() => app.close());
  await app.listen({ port: 0, host: '127.0.0.1' });
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  t = await startTestStack({ only: ['orchestration-engine'] });
  passportToken = await t.clientToken('passport-app', 'urn:ndx:api');
  auditPool = new pg.Pool({ connectionString: t.databaseUrl('ndx_audit'), max: 2 });
  drp = await startFaultProvider({ upstream: t.url('drp-api-adapter') });
}, 240_000);

afterAll(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
  await drp?.stop();
  await auditPool?.end();
  await t?.stop();
});

describe('the audit record says what the answer holds', () => {
  it('783345678v and " 783345678V" give the same record as 783345678V, each audited under the canonical NIC with the released fields the answer holds', async () => {
    const canonical = await passportQuery(daliso.nic);
    expect(canonical.status).toBe(200);
    expect(canonical.errors).toBeUndefined();
    expect(canonical.data!.personInfo).toMatchObject({
      name: daliso.birthName,
      dateOfBirth: daliso.dateOfBirth,
    });
    for (const spelling of ['783345678v', ' 783345678V']) {
      const answer = await passportQuery(spelling);
      expect(answer.status).toBe(200);
      expect(answer.data).toEqual(canonical.data);
      expect(answer.errors).toBeUndefined();
      const record = await recordOf(daliso.nic, answer.reference);
      expect(record.citizenId).toBe('783345678V');
      expectAuditMatchesAnswer(record, answer);
      expect(record.fieldsReleased.every((f) => f.allowedBy?.basis === 'consent')).toBe(true);
    }
    expectAuditMatchesAnswer(await recordOf(daliso.nic, canonical.reference), canonical);
  });

  it('a provider answering a GraphQL error on one field inside HTTP 200: that field is null with PROVIDER_ERROR and audited withheld as PROVIDER_ERROR, the rest released', async () => {
    const oeUrl = await startOeWithFaultyDrp();
    drp.setMode('graphql-error', { errorPaths: [['personInfo', 'fullName']] });
    const answer = await passportQuery(daliso.nic, {}, oeUrl);
    expect(answer.status).toBe(200);
    expect(answer.data!.personInfo!['fullName']).toBeNull();
    expect(answer.data!.personInfo).toMatchObject({
      name: daliso.birthName,
      dateOfBirth: daliso.dateOfBirth,
    });
    expect(answer.errors!.map((e) => [e.path!.join('.'), e.extensions.code])).toEqual([
      ['personInfo.fullName', 'PROVIDER_ERROR'],
    ]);
    const record = await recordOf(daliso.nic, answer.reference);
    expect(record.fieldsWithheld).toEqual([
      {
        providerKey: 'drp',
        schemaId: expect.any(String),
        field: 'person.fullName',
        reason: 'PROVIDER_ERROR',
      },
    ]);
    expect(record.fieldsReleased.map(key)).not.toContain('drp person.fullName');
    expect(record.fieldsReleased.map(key)).toContain('drp person.otherNames');
    expect(record.outcome).toBe('PARTIAL');
    expect(record.providers.find((p) => p.providerKey === 'drp')).toMatchObject({
      outcome: 'OK',
      graphqlErrors: 1,
    });
    expectAuditMatchesAnswer(record, answer);
  });
});

describe('the audit reference is NDX’s own', () => {
  it('two requests with the same caller traceparent get different audit references; each record keeps the caller’s traceparent apart', async () => {
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const first = await passportQuery(daliso.nic, { traceparent });
    const second = await passportQuery(daliso.nic, { traceparent });
    expect(first.reference).toMatch(UUID);
    expect(second.reference).toMatch(UUID);
    expect(second.reference).not.toBe(first.reference);
    for (const answer of [first, second]) {
      const record = await recordOf(daliso.nic, answer.reference);
      expect(record).toMatchObject({
        reference: answer.reference,
        callerTraceparent: traceparent,
        // The logs still correlate on the caller's trace id; the reference is not taken from it.
        traceId: '0af7651916cd43dd8448eb211c80319c',
      });
      expect(record.reference).not.toContain('0af7651916cd43dd8448eb211c80319c');
    }
    // No traceparent, or one that is not W3C: nothing of the caller's is kept.
    for (const headers of [{}, { traceparent: 'same-reference-for-everyone' }] as Record<string, string>[]) {
      const answer = await passportQuery(daliso.nic, headers);
      expect((await recordOf(daliso.nic, answer.reference)).callerTraceparent).toBeNull();
    }
  });
});

describe('the audit reference of a refused query', () => {
  it('a query the CE could not gate (503 CONSENT_UNAVAILABLE) is audited, and its answer carries the record’s reference', async () => {
    const deadCe = await startFaultProvider({ upstream: t.url('consent-engine') });
    cleanups.push(() => deadCe.stop());
    await deadCe.down();
    const oeUrl = await startOeWithFaultyDrp({ CONSENT_ENGINE_URL: deadCe.url });
    const refused = await passportQuery(daliso.nic, {}, oeUrl);
    expect(refused.status).toBe(503);
    expect(refused.errors).toEqual([
      {
        message: expect.any(String),
        extensions: { code: 'CONSENT_UNAVAILABLE', auditReference: refused.reference },
      },
    ]);
    const record = await recordOf(daliso.nic, refused.reference);
    expect(record.outcome).toBe('ERROR');
    expect(record.fieldsReleased).toEqual([]);
  });
});

describe('the end user an app names', () => {
  it('is recorded as asserted by the consumer; a malformed NDX-End-User is refused with 400 INVALID_END_USER and nothing is audited', async () => {
    const officer = await passportQuery(daliso.nic, { 'NDX-End-User': 'sub=die-officer-17;role=officer' });
    expect(officer.status).toBe(200);
    expect((await recordOf(daliso.nic, officer.reference)).endUser).toEqual({
      subject: 'die-officer-17',
      role: 'officer',
      assertedBy: 'passport-app',
    });

    const count = async () =>
      (await auditPool.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_log')).rows[0]!.n;
    const before = await count();
    for (const value of ['sub=783345678V;role=king', '783345678V', 'sub=a b;role=applicant']) {
      const refused = await passportQuery(daliso.nic, { 'NDX-End-User': value });
      expect(refused.status).toBe(400);
      expect(refused.reference).toBeNull();
      expect(refused.errors).toEqual([
        {
          message: expect.stringContaining('sub=<FUDI subject>;role=applicant|officer'),
          extensions: { code: 'INVALID_END_USER' },
        },
      ]);
    }
    expect(await count()).toBe(before);
  });
});

describe('a partial release', () => {
  it('names the consent that allowed each shared field and the new request only as asked for, in the audit and in the citizen’s access log', async () => {
    const redirectUri = `${t.url('passport-app')}/consent/return`;
    // 1. No consent yet: nothing shared, a request opened.
    const asked = await passportQuery(esther.nic, { 'NDX-End-User': `sub=${esther.nic};role=applicant` });
    const firstRequest = asked.errors!.find((e) => e.extensions.code === 'CONSENT_REQUIRED')!.extensions;
    const askedRecord = await recordOf(esther.nic, asked.reference);
    expect(askedRecord).toMatchObject({
      outcome: 'CONSENT_REQUIRED',
      fieldsReleased: [],
      consentId: null,
      consentRequested: firstRequest['consentId'],
    });

    // 2. Esther approves her name at birth and date of birth only: consent X.
    const decided = await decideInPortal({
      consentPortalUrl: firstRequest['consentPortalUrl'] as string,
      redirectUri,
      nic: esther.nic,
      password: esther.password,
      decision: { approve: ['rgd/abc-212/getPersonInfo.fullName', 'rgd/abc-212/getPersonInfo.dateOfBirth'] },
    });
    expect(decided.status).toBe('ACTIVE');
    const consentX = decided.consentId;

    // 3. The next query releases those two and asks for the rest: request Y.
    const partial = await passportQuery(esther.nic, { 'NDX-End-User': `sub=${esther.nic};role=applicant` });
    expect(partial.status).toBe(200);
    expect(partial.data!.personInfo).toMatchObject({
      name: esther.birthName,
      dateOfBirth: esther.dateOfBirth,
    });
    const requestY = partial.errors!.find((e) => e.extensions.code === 'CONSENT_REQUIRED')!.extensions[
      'consentId'
    ] as string;
    expect(requestY).not.toBe(consentX);
    const record = await recordOf(esther.nic, partial.reference);
    expect(record.fieldsReleased).toEqual([
      {
        providerKey: 'rgd',
        schemaId: 'abc-212',
        field: 'getPersonInfo.fullName',
        allowedBy: { basis: 'consent', consentId: consentX },
      },
      {
        providerKey: 'rgd',
        schemaId: 'abc-212',
        field: 'getPersonInfo.dateOfBirth',
        allowedBy: { basis: 'consent', consentId: consentX },
      },
    ]);
    expect(record).toMatchObject({ outcome: 'PARTIAL', consentId: consentX, consentRequested: requestY });
    expect(record.fieldsWithheld.every((f) => f.reason === 'CONSENT_REQUIRED')).toBe(true);
    expect(record.fieldsWithheld).toHaveLength(8);
    expectAuditMatchesAnswer(record, partial);

    // 4. Her access log, signed in as her in the real portal.
    const jar = new CookieJar();
    const login = await browse(jar, `${t.url('consent-engine')}/consent/mine/access`);
    const page = await submitFudiLogin(jar, login, esther.nic, esther.password);
    expect(page.status).toBe(200);
    const cards = page.text.split('<li class="card access">').slice(1);
    const card = (reference: string) => {
      const found = cards.filter((c) => c.includes(`Reference ${reference}`));
      expect(found).toHaveLength(1);
      return found[0]!;
    };
    const shared = card(partial.reference!);
    expect(shared).toContain('Some of what was asked for was shared.');
    expect(shared).toMatch(
      /<dt>Allowed by<\/dt>\s*<dd>\s*<ul class="allowed-by">\s*<li>The consent you gave on [^<]*UTC: Name at birth, Date of birth<\/li>\s*<\/ul>/,
    );
    expect(shared).toContain('You were asked for your consent to the rest.');
    expect(shared).toMatch(/<dt>Asked by<\/dt>\s*<dd>The applicant \(you\)/);
    const nothing = card(asked.reference!);
    expect(nothing).toContain('Nothing was shared: you were asked for your consent.');
    expect(nothing).not.toContain('Allowed by');
    expect(nothing).not.toContain('consent you gave');
  });
});
