/**
 * One GraphQL operation naming several citizens (aliases, fragments, variables), through the real stack:
 * each citizen's fields are released or withheld by that citizen's own consent, every withheld path
 * carries its own citizen's error, nothing of a withheld field reaches the body, and the audit log holds
 * one record per citizen naming only that citizen and that citizen's fields.
 *
 * Consent states, set in the real consent portal before the tests:
 *   Amara  — approved every passport field;
 *   Bwalya — approved a subset: name, dateOfBirth (RGD) and address (DRP);
 *   Esther — approved every field, then the consent was revoked;
 *   Chipo  — never consented (she has only the pending request her first query created).
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportCitizenRecords, type AuditRecord } from '@ndx/audit';
import { demoCitizens, demoSyntheticCitizens } from '@ndx/synthetic-data';
import { decideInPortal } from './support/consent-portal.ts';
import { startTestStack, type TestStack } from './support/test-stack.ts';

type Citizen = (typeof demoCitizens)[number];
const citizen = (nic: string): Citizen => demoCitizens.find((c) => c.nic === nic)!;
const amara = citizen('199560201234');
const bwalya = citizen('852321234V');
const chipo = citizen('200150500789');
const esther = citizen('199066604567');

/** Unified field path (below personInfo) → the provider field it reads. */
const PROVIDER_FIELD: Record<string, string> = {
  name: 'rgd/abc-212/getPersonInfo.fullName',
  dateOfBirth: 'rgd/abc-212/getPersonInfo.dateOfBirth',
  sex: 'rgd/abc-212/getPersonInfo.sex',
  'birthInfo.birthRegistrationNumber': 'rgd/abc-212/getPersonInfo.birthRegistrationNumber',
  'birthInfo.birthPlace': 'rgd/abc-212/getPersonInfo.birthPlace',
  'birthInfo.district': 'rgd/abc-212/getPersonInfo.district',
  fullName: 'drp/drp-schema-v1/person.fullName',
  otherNames: 'drp/drp-schema-v1/person.otherNames',
  address: 'drp/drp-schema-v1/person.permanentAddress',
  profession: 'drp/drp-schema-v1/person.profession',
};
const ALL_FIELDS = Object.keys(PROVIDER_FIELD);
const BWALYA_APPROVED = ['name', 'dateOfBirth', 'address'];

/** What the registries hold for a demo citizen, by unified field path. */
function registryValues(nic: string): Record<string, string | null> {
  const record = demoSyntheticCitizens().find((c) => c.birth.nic === nic)!;
  const { birth, person } = record;
  return {
    name: birth.fullName,
    dateOfBirth: birth.dateOfBirth,
    sex: birth.sex,
    'birthInfo.birthRegistrationNumber': birth.birthRegistrationNumber,
    'birthInfo.birthPlace': birth.birthPlace,
    'birthInfo.district': birth.district,
    fullName: person?.fullName ?? null,
    otherNames: person?.otherNames ?? null,
    address: person?.permanentAddress ?? null,
    profession: person?.profession ?? null,
  };
}

const PASSPORT_QUERY = `query Passport($nic: ID!) {
  personInfo(nic: $nic) {
    fullName name otherNames address profession dateOfBirth sex
    birthInfo { birthRegistrationNumber birthPlace district }
  }
}`;

interface GraphQLError {
  message: string;
  path?: (string | number)[];
  extensions: { code: string; consentId?: string; consentPortalUrl?: string; [k: string]: unknown };
}
interface Answer {
  status: number;
  traceId: string;
  text: string;
  data?: Record<string, Record<string, unknown> | null> | null;
  errors?: GraphQLError[];
}
interface ConsentView {
  consentId: string;
  citizenId: string;
  status: string;
  fields: { providerKey: string; schemaId: string; field: string }[];
}

let t: TestStack;
let passportToken: string;
let operatorToken: string;
let redirectUri: string;
let audit: pg.Pool;
/** The consent each citizen approved in the portal (Esther's is revoked). */
const approved: Record<string, string> = {};

async function graphql(query: string, variables?: Record<string, unknown>): Promise<Answer> {
  const response = await fetch(`${t.url('orchestration-engine')}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${passportToken}` },
    body: JSON.stringify({ query, variables }),
  });
  const text = await response.text();
  const traceId = (response.headers.get('traceparent') ?? '').split('-')[1] ?? '';
  return { status: response.status, traceId, text, ...(JSON.parse(text) as object) };
}

async function consentRecord(consentId: string): Promise<ConsentView> {
  const response = await fetch(`${t.url('consent-engine')}/v1/consents/${consentId}`, {
    headers: { authorization: `Bearer ${operatorToken}` },
  });
  expect(response.status).toBe(200);
  return (await response.json()) as ConsentView;
}

/** Opens the portal URL of the citizen's pending passport consent and decides there, as the citizen. */
async function decide(person: Citizen, decision: 'approve-all' | { approve: string[] }): Promise<string> {
  const first = await graphql(PASSPORT_QUERY, { nic: person.nic });
  const pending = first.errors!.find((e) => e.extensions.code === 'CONSENT_REQUIRED')!;
  const result = await decideInPortal({
    consentPortalUrl: pending.extensions.consentPortalUrl!,
    redirectUri,
    nic: person.nic,
    password: person.password,
    decision,
  });
  expect(result.status).toBe('ACTIVE');
  return result.consentId;
}

beforeAll(async () => {
  t = await startTestStack({ only: ['orchestration-engine'] });
  passportToken = await t.clientToken('passport-app', 'urn:ndx:api');
  operatorToken = await t.clientToken('ndx-operator', 'urn:ndx:consent', 'admin');
  redirectUri = `${t.url('passport-app')}/consent/return`;
  audit = new pg.Pool({ connectionString: t.databaseUrl('ndx_audit') });

  [approved[amara.nic], approved[bwalya.nic], approved[esther.nic]] = await Promise.all([
    decide(amara, 'approve-all'),
    decide(bwalya, { approve: BWALYA_APPROVED.map((f) => PROVIDER_FIELD[f]!) }),
    decide(esther, 'approve-all'),
  ]);
  const revoke = await fetch(`${t.url('consent-engine')}/v1/consents/${approved[esther.nic]}/revoke`, {
    method: 'POST',
    headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' },
    body: '{}',
  });
  expect(revoke.status).toBe(200);
  // Chipo only ever gets a pending request.
  const chipoAlone = await graphql(PASSPORT_QUERY, { nic: chipo.nic });
  expect(chipoAlone.data!['personInfo']!['name']).toBeNull();
}, 240_000);

afterAll(async () => {
  await audit?.end();
  await t?.stop();
});

// ---------------------------------------------------------------------------------------------------------

/** One alias of personInfo in an operation: whose it is, and what it selects (unified paths). */
interface AliasExpectation {
  alias: string;
  person: Citizen;
  selected: string[];
}

/** Which of a citizen's fields that citizen's own consent releases. */
function releasedFor(person: Citizen, selected: string[]): string[] {
  if (person === amara) return selected;
  if (person === bwalya) return selected.filter((f) => BWALYA_APPROVED.includes(f));
  return [];
}

/** The unified object for one alias: released fields hold the registry value, withheld ones null. */
function expectedObject(person: Citizen, selected: string[]): Record<string, unknown> {
  const values = registryValues(person.nic);
  const released = releasedFor(person, selected);
  const object: Record<string, unknown> = {};
  for (const path of selected) {
    const value = released.includes(path) ? values[path] : null;
    const [head, leaf] = path.split('.') as [string, string | undefined];
    if (leaf === undefined) object[head] = value;
    else object[head] = { ...(object[head] as object | undefined), [leaf]: value };
  }
  return object;
}

const providerFieldKey = (f: { providerKey: string; schemaId: string; field: string }) =>
  `${f.providerKey}/${f.schemaId}/${f.field}`;

/**
 * Everything a multi-citizen answer must satisfy: per alias the exact object, per withheld path exactly
 * one CONSENT_REQUIRED error whose consent is a pending request of that alias's own citizen (for exactly
 * that citizen's withheld fields), no withheld value anywhere in the body, and per citizen exactly one
 * audit record, naming that citizen and only the fields selected for that citizen.
 */
async function expectGatedPerCitizen(answer: Answer, aliases: AliasExpectation[]): Promise<void> {
  expect(answer.status).toBe(200);
  expect(answer.data).toEqual(
    Object.fromEntries(aliases.map((a) => [a.alias, expectedObject(a.person, a.selected)])),
  );

  const withheldPaths = aliases.flatMap((a) => {
    const released = releasedFor(a.person, a.selected);
    return a.selected.filter((f) => !released.includes(f)).map((f) => `${a.alias}.${f}`);
  });
  const errors = answer.errors ?? [];
  expect(errors.map((e) => (e.path ?? []).join('.')).sort()).toEqual(withheldPaths.sort());
  expect(new Set(errors.map((e) => e.extensions.code))).toEqual(
    new Set(withheldPaths.length ? ['CONSENT_REQUIRED'] : []),
  );

  // Each error names a pending consent of its own alias's citizen; one consent per citizen, none shared.
  const consentOfCitizen = new Map<string, string>();
  for (const error of errors) {
    const alias = aliases.find((a) => a.alias === error.path![0])!;
    const { consentId, consentPortalUrl } = error.extensions;
    expect(consentPortalUrl).toBe(`${t.url('consent-engine')}/consent/${consentId}`);
    expect(consentOfCitizen.get(alias.person.nic) ?? consentId).toBe(consentId);
    consentOfCitizen.set(alias.person.nic, consentId!);
  }
  expect(new Set(consentOfCitizen.values()).size).toBe(consentOfCitizen.size);
  for (const [nic, consentId] of consentOfCitizen) {
    const consent = await consentRecord(consentId);
    expect(consent.citizenId).toBe(nic);
    expect(consent.status).toBe('PENDING');
    expect(consentId).not.toBe(approved[nic]);
    const withheldFields = new Set(
      aliases
        .filter((a) => a.person.nic === nic)
        .flatMap((a) => a.selected.filter((f) => !releasedFor(a.person, a.selected).includes(f)))
        .map((f) => PROVIDER_FIELD[f]!),
    );
    expect(consent.fields.map(providerFieldKey).sort()).toEqual([...withheldFields].sort());
  }

  // No value of a withheld field appears anywhere in the body (unless it is also a released value).
  const releasedValues = new Set(
    aliases.flatMap((a) => releasedFor(a.person, a.selected).map((f) => registryValues(a.person.nic)[f])),
  );
  const withheldValues = aliases.flatMap((a) =>
    a.selected
      .filter((f) => !releasedFor(a.person, a.selected).includes(f))
      .map((f) => registryValues(a.person.nic)[f])
      .filter((v): v is string => typeof v === 'string')
      .filter((v) => ![...releasedValues].some((r) => typeof r === 'string' && r.includes(v))),
  );
  if (withheldPaths.length) expect(withheldValues.length).toBeGreaterThan(0);
  expect(withheldValues.filter((v) => answer.text.includes(v))).toEqual([]);

  // The audit log: one record per citizen of this request, each about that citizen alone.
  const { rows } = await audit.query<{ citizen_id: string }>(
    'SELECT citizen_id FROM audit_log WHERE trace_id = $1 ORDER BY citizen_id',
    [answer.traceId],
  );
  const citizens = [...new Set(aliases.map((a) => a.person.nic))].sort();
  expect(rows.map((r) => r.citizen_id)).toEqual(citizens);
  for (const nic of citizens) {
    const mine = aliases.filter((a) => a.person.nic === nic);
    const requested = new Set(mine.flatMap((a) => a.selected).map((f) => PROVIDER_FIELD[f]!));
    const released = new Set(
      mine.flatMap((a) => releasedFor(a.person, a.selected)).map((f) => PROVIDER_FIELD[f]!),
    );
    const record = await auditRecordOf(nic, answer.traceId);
    expect(record.citizenId).toBe(nic);
    expect(record.consumerId).toBe('passport-app');
    expect(record.fieldsRequested.map(providerFieldKey).sort()).toEqual([...requested].sort());
    expect(record.fieldsReleased.map(providerFieldKey).sort()).toEqual([...released].sort());
    expect(record.fieldsWithheld.map((w) => `${providerFieldKey(w)} ${w.reason}`).sort()).toEqual(
      [...requested]
        .filter((f) => !released.has(f))
        .map((f) => `${f} CONSENT_REQUIRED`)
        .sort(),
    );
    expect(record.outcome).toBe(
      released.size === requested.size ? 'SUCCESS' : released.size ? 'PARTIAL' : 'CONSENT_REQUIRED',
    );
    // The consent that allowed what was released (per field and as consentId); the request opened for
    // the rest only as asked for.
    expect(record.fieldsReleased.map((f) => f.allowedBy)).toEqual(
      record.fieldsReleased.map(() => ({ basis: 'consent', consentId: approved[nic] })),
    );
    expect(record.consentId).toBe(released.size ? approved[nic] : null);
    expect(record.consentRequested).toBe(consentOfCitizen.get(nic) ?? null);
  }
}

async function auditRecordOf(nic: string, traceId: string): Promise<AuditRecord> {
  const found: AuditRecord[] = [];
  for await (const record of exportCitizenRecords(audit, nic)) {
    if (record.traceId === traceId) found.push(record);
  }
  expect(found).toHaveLength(1);
  return found[0]!;
}

// ---------------------------------------------------------------------------------------------------------

describe('one query naming several citizens is gated citizen by citizen', () => {
  it('aliases of personInfo: a consented, a partly consented and an unconsented citizen each get only what their own consent allows', async () => {
    const answer = await graphql(`{
      amara: personInfo(nic: "${amara.nic}") { name sex address birthInfo { district } }
      bwalya: personInfo(nic: "${bwalya.nic}") { name dateOfBirth address profession fullName }
      chipo: personInfo(nic: "${chipo.nic}") {
        name otherNames dateOfBirth profession birthInfo { birthRegistrationNumber birthPlace }
      }
    }`);
    await expectGatedPerCitizen(answer, [
      { alias: 'amara', person: amara, selected: ['name', 'sex', 'address', 'birthInfo.district'] },
      {
        alias: 'bwalya',
        person: bwalya,
        selected: ['name', 'dateOfBirth', 'address', 'profession', 'fullName'],
      },
      {
        alias: 'chipo',
        person: chipo,
        selected: [
          'name',
          'otherNames',
          'dateOfBirth',
          'profession',
          'birthInfo.birthRegistrationNumber',
          'birthInfo.birthPlace',
        ],
      },
    ]);
    // Chipo's NIC went to the PDP and CE, never a value of hers to the consumer.
    expect(answer.text).not.toContain(chipo.birthName);
  });

  it('every passport field, three citizens: the consented one’s whole record, nothing of the other two’s withheld fields', async () => {
    const all =
      'fullName name otherNames address profession dateOfBirth sex birthInfo { birthRegistrationNumber birthPlace district }';
    const answer = await graphql(`{
      a: personInfo(nic: "${amara.nic}") { ${all} }
      b: personInfo(nic: "${bwalya.nic}") { ${all} }
      c: personInfo(nic: "${chipo.nic}") { ${all} }
    }`);
    await expectGatedPerCitizen(answer, [
      { alias: 'a', person: amara, selected: ALL_FIELDS },
      { alias: 'b', person: bwalya, selected: ALL_FIELDS },
      { alias: 'c', person: chipo, selected: ALL_FIELDS },
    ]);
  });

  it('named and inline fragments: an unconsented citizen spread through a Query fragment beside a consented one, sharing her PersonInfo fragment', async () => {
    const answer = await graphql(`query Fragments {
      amara: personInfo(nic: "${amara.nic}") { ...Person ... on PersonInfo { profession } }
      ...Others
    }
    fragment Others on Query {
      chipo: personInfo(nic: "${chipo.nic}") { ...Person ... { address } }
    }
    fragment Person on PersonInfo { name fullName birthInfo { birthPlace district } }`);
    const person = ['name', 'fullName', 'birthInfo.birthPlace', 'birthInfo.district'];
    await expectGatedPerCitizen(answer, [
      { alias: 'amara', person: amara, selected: [...person, 'profession'] },
      { alias: 'chipo', person: chipo, selected: [...person, 'address'] },
    ]);
  });

  it('variables: the same operation with the citizens rotated between $a, $b and $c releases by citizen, not by alias', async () => {
    const query = `query Trio($a: ID!, $b: ID!, $c: ID!) {
      a: personInfo(nic: $a) { ...F }
      b: personInfo(nic: $b) { ...F }
      c: personInfo(nic: $c) { ...F }
    }
    fragment F on PersonInfo { name address sex }`;
    const selected = ['name', 'address', 'sex'];
    const order = [amara, bwalya, esther];
    for (let turn = 0; turn < 3; turn++) {
      const [a, b, c] = [0, 1, 2].map((i) => order[(i + turn) % 3]!) as [Citizen, Citizen, Citizen];
      const answer = await graphql(query, { a: a.nic, b: b.nic, c: c.nic });
      await expectGatedPerCitizen(answer, [
        { alias: 'a', person: a, selected },
        { alias: 'b', person: b, selected },
        { alias: 'c', person: c, selected },
      ]);
    }
  });

  it('a revoked consent releases nothing for its citizen while the consented citizen beside her is answered', async () => {
    const answer = await graphql(
      'query($a: ID!, $b: ID!) { a: personInfo(nic: $a) { name dateOfBirth } b: personInfo(nic: $b) { name dateOfBirth } }',
      { a: esther.nic, b: amara.nic },
    );
    await expectGatedPerCitizen(answer, [
      { alias: 'a', person: esther, selected: ['name', 'dateOfBirth'] },
      { alias: 'b', person: amara, selected: ['name', 'dateOfBirth'] },
    ]);
    expect((await consentRecord(approved[esther.nic]!)).status).toBe('REVOKED');
  });

  it('the same citizen under two aliases is one data subject: one consent request and one audit record for both', async () => {
    const answer = await graphql(`{
      x: personInfo(nic: "${bwalya.nic}") { name profession }
      y: personInfo(nic: "${bwalya.nic}") { address fullName sex }
      z: personInfo(nic: "${chipo.nic}") { name }
    }`);
    await expectGatedPerCitizen(answer, [
      { alias: 'x', person: bwalya, selected: ['name', 'profession'] },
      { alias: 'y', person: bwalya, selected: ['address', 'fullName', 'sex'] },
      { alias: 'z', person: chipo, selected: ['name'] },
    ]);
  });
});
