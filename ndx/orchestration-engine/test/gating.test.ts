/**
 * The OE's gating stage on its own: which data subject each planned leaf belongs to, and how one query
 * naming several citizens is decided citizen by citizen. Plans come from the real planner; the PDP and
 * CE are in-test fakes that record what they were asked (this stage's only collaborators).
 */
import { describe, expect, it } from 'vitest';
import { parse, validate } from 'graphql';
import { NdxError } from '@ndx/service-kit';
import { loadFlConfig } from '../src/fl-config.ts';
import type { ConsentClient, FieldDecision, FieldRef, PolicyClient } from '../src/gate-clients.ts';
import { gateQuery, GateUnavailableError, leavesByDataSubject, subjectOfRoot } from '../src/gating.ts';
import { loadUnifiedSchema } from '../src/schema.ts';
import { createQueryPlanner, type PlannedLeaf, type QueryPlan } from '../src/planner.ts';

const { schema } = loadUnifiedSchema();
const { argMappings } = loadFlConfig(undefined, { env: {} });
const planner = createQueryPlanner({ schema, argMappings });

const AMARA = '199560201234';
const BWALYA = '852321234V';
const CHIPO = '200150500789';
const consumer = { consumerId: 'passport-app', purpose: 'passport-application' };

function plan(query: string, variables?: Record<string, unknown>): QueryPlan {
  const document = parse(query);
  expect(validate(schema, document)).toEqual([]);
  return planner.plan({ document, source: query, variables });
}

/** `providerKey field` of a provider field, e.g. `drp person.fullName`. */
const keyOf = (f: { providerKey: string; field: string }) => `${f.providerKey} ${f.field}`;
const leafKey = (l: PlannedLeaf) => `${l.providerKey} ${l.providerField}`;
/** Each subject's leaves as `unified.path -> provider field`, sorted. */
function grouped(plan: QueryPlan): Record<string, string[]> {
  return Object.fromEntries(
    [...leavesByDataSubject(plan)].map(([subject, leaves]) => [
      String(subject),
      leaves.map((l) => `${l.unifiedPath.join('.')} -> ${leafKey(l)}`).sort(),
    ]),
  );
}
/** The leaf ids of a plan whose unified path starts with `rootKey`. */
const idsUnder = (plan: QueryPlan, rootKey: string) =>
  plan.leaves.filter((l) => l.unifiedPath[0] === rootKey).map((l) => l.id);
const leafAt = (plan: QueryPlan, path: string) => plan.leaves.find((l) => l.unifiedPath.join('.') === path)!;

// ---------------------------------------------------------------------------------------------------------
// In-test PDP and CE: decisions and consents per citizen, every call recorded.

type PolicyRequest = Parameters<PolicyClient['decide']>[0];
type ConsentRequest = Parameters<ConsentClient['check']>[0];

function fakePolicy(
  decide: (subjectId: string | null, field: FieldRef) => FieldDecision | undefined = () => 'CONSENT_REQUIRED',
  options: { failFor?: string } = {},
) {
  const calls: PolicyRequest[] = [];
  const client: PolicyClient = {
    decide: async (request) => {
      calls.push(request);
      if (request.subjectId === options.failFor) throw new Error('PDP unreachable');
      return {
        decisionId: `decision-${request.subjectId}`,
        policyVersion: '7',
        fields: request.fields.flatMap((f) => {
          const decision = decide(request.subjectId, f);
          return decision ? [{ ...f, decision, policyIds: ['p1'] }] : [];
        }),
      };
    },
  };
  return { client, calls };
}

/** `consented`: per citizen, the `providerKey field` keys an active consent covers. */
function fakeConsent(consented: Record<string, string[]>) {
  const checks: ConsentRequest[] = [];
  const requests: ConsentRequest[] = [];
  const client: ConsentClient = {
    check: async (request) => {
      checks.push(request);
      const covered = new Set(consented[request.citizenId] ?? []);
      const missingFields = request.fields.filter((f) => !covered.has(keyOf(f)));
      return {
        covered: missingFields.length === 0,
        consentId: consented[request.citizenId] ? `active-${request.citizenId}` : null,
        missingFields,
      };
    },
    requestConsent: async (request) => {
      requests.push(request);
      return {
        consentId: `pending-${request.citizenId}`,
        status: 'PENDING',
        consentPortalUrl: `https://ce.test/consent/pending-${request.citizenId}`,
      };
    },
  };
  return { client, checks, requests };
}

const ALL_PERSON_FIELDS = [
  'rgd getPersonInfo.fullName',
  'rgd getPersonInfo.dateOfBirth',
  'rgd getPersonInfo.sex',
  'rgd getPersonInfo.birthRegistrationNumber',
  'rgd getPersonInfo.birthPlace',
  'rgd getPersonInfo.district',
  'drp person.fullName',
  'drp person.otherNames',
  'drp person.permanentAddress',
  'drp person.profession',
];

// ---------------------------------------------------------------------------------------------------------

describe('subjectOfRoot: the data subject a root field names', () => {
  it('personInfo names its citizen, the NIC normalised to upper case without spaces', () => {
    expect(subjectOfRoot('personInfo', { nic: AMARA })).toBe(AMARA);
    expect(subjectOfRoot('personInfo', { nic: ' 852321234v ' })).toBe(BWALYA);
  });

  it('an invalid or missing NIC is an NdxError BAD_USER_INPUT (400) naming the argument', () => {
    for (const args of [{ nic: '12345' }, { nic: '852321234Z' }, { nic: 852321234 }, {}]) {
      let caught: unknown;
      try {
        subjectOfRoot('personInfo', args);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(NdxError);
      expect((caught as NdxError).code).toBe('BAD_USER_INPUT');
      expect((caught as NdxError).httpStatus).toBe(400);
      expect((caught as NdxError).details).toEqual({ argument: 'nic' });
    }
  });

  it('a root field that names no citizen has no data subject (null)', () => {
    expect(subjectOfRoot('vehicle', { regNo: 'CAB-1234' })).toBeNull();
    expect(subjectOfRoot('vehicleClasses', {})).toBeNull();
    // A NIC-shaped argument on another root does not make it a citizen's.
    expect(subjectOfRoot('vehicle', { nic: AMARA })).toBeNull();
  });
});

describe('leavesByDataSubject: every leaf under the citizen of its own root field', () => {
  it('aliases of personInfo for two citizens: each alias’s leaves under its own citizen', () => {
    const p = plan(`{
      a: personInfo(nic: "${AMARA}") { name address }
      b: personInfo(nic: "852321234v") { sex birthInfo { district } address }
    }`);
    expect(grouped(p)).toEqual({
      [AMARA]: ['a.address -> drp person.permanentAddress', 'a.name -> rgd getPersonInfo.fullName'],
      [BWALYA]: [
        'b.address -> drp person.permanentAddress',
        'b.birthInfo.district -> rgd getPersonInfo.district',
        'b.sex -> rgd getPersonInfo.sex',
      ],
    });
  });

  it('named fragments, inline fragments and a fragment on Query keep each citizen’s leaves apart', () => {
    const p = plan(`query {
      a: personInfo(nic: "${AMARA}") { ...Person ... on PersonInfo { profession } }
      ...Others
    }
    fragment Others on Query {
      ... { c: personInfo(nic: "${CHIPO}") { ...Person ... { otherNames } } }
    }
    fragment Person on PersonInfo { name birthInfo { ...Birth } }
    fragment Birth on BirthInfo { birthPlace }`);
    expect(grouped(p)).toEqual({
      [AMARA]: [
        'a.birthInfo.birthPlace -> rgd getPersonInfo.birthPlace',
        'a.name -> rgd getPersonInfo.fullName',
        'a.profession -> drp person.profession',
      ],
      [CHIPO]: [
        'c.birthInfo.birthPlace -> rgd getPersonInfo.birthPlace',
        'c.name -> rgd getPersonInfo.fullName',
        'c.otherNames -> drp person.otherNames',
      ],
    });
  });

  it('variables bind each alias to the citizen its variable names, also when the cached plan is reused', () => {
    const query =
      'query Two($a: ID!, $b: ID!) { a: personInfo(nic: $a) { name } b: personInfo(nic: $b) { sex } }';
    expect(grouped(plan(query, { a: AMARA, b: CHIPO }))).toEqual({
      [AMARA]: ['a.name -> rgd getPersonInfo.fullName'],
      [CHIPO]: ['b.sex -> rgd getPersonInfo.sex'],
    });
    // Same operation text: the planner answers from its cache; the subjects must follow the new values.
    expect(grouped(plan(query, { a: CHIPO, b: AMARA }))).toEqual({
      [CHIPO]: ['a.name -> rgd getPersonInfo.fullName'],
      [AMARA]: ['b.sex -> rgd getPersonInfo.sex'],
    });
  });

  it('the same citizen under two aliases (and two spellings of the NIC) is one data subject', () => {
    const p = plan(
      `{ x: personInfo(nic: "852321234V") { name } y: personInfo(nic: " 852321234v") { fullName } }`,
    );
    expect(grouped(p)).toEqual({
      [BWALYA]: ['x.name -> rgd getPersonInfo.fullName', 'y.fullName -> drp person.fullName'],
    });
  });

  it('roots that name no citizen group under null, apart from a citizen in the same query', () => {
    const p = plan(`{
      vehicle(regNo: "CAB-1234") { make }
      vehicleClasses { classCode }
      personInfo(nic: "${AMARA}") { ownedVehicles { model } }
    }`);
    expect(grouped(p)).toEqual({
      null: [
        'vehicle.make -> dmt vehicle.make',
        'vehicleClasses.[].classCode -> dmt vehicleClasses.classCode',
      ],
      [AMARA]: ['personInfo.ownedVehicles.[].model -> dmt vehiclesByOwner.model'],
    });
  });

  it('one invalid NIC among several citizens rejects the whole query (BAD_USER_INPUT)', () => {
    const p = plan(`{ a: personInfo(nic: "${AMARA}") { name } b: personInfo(nic: "12345") { name } }`);
    expect(() => leavesByDataSubject(p)).toThrow(
      expect.objectContaining({ code: 'BAD_USER_INPUT', httpStatus: 400 }),
    );
  });
});

describe('gateQuery: one query, several citizens, each decided alone', () => {
  const THREE = `query Three($a: ID!, $b: ID!, $c: ID!) {
    a: personInfo(nic: $a) { ...Person }
    b: personInfo(nic: $b) { ...Person address }
    c: personInfo(nic: $c) { ... on PersonInfo { name sex } }
  }
  fragment Person on PersonInfo { name dateOfBirth fullName }`;
  const threeVars = { a: AMARA, b: BWALYA, c: CHIPO };

  it('calls the PDP once per citizen, with exactly that citizen’s fields', async () => {
    const p = plan(THREE, threeVars);
    const policy = fakePolicy(() => 'PERMIT');
    const consent = fakeConsent({});
    await gateQuery(p, consumer, { policy: policy.client, consent: consent.client });
    const bySubject = Object.fromEntries(
      policy.calls.map((c) => [c.subjectId, { ...c, fields: c.fields.map(keyOf).sort() }]),
    );
    expect(policy.calls).toHaveLength(3);
    expect(bySubject).toEqual({
      [AMARA]: {
        ...consumer,
        subjectId: AMARA,
        fields: ['drp person.fullName', 'rgd getPersonInfo.dateOfBirth', 'rgd getPersonInfo.fullName'],
      },
      [BWALYA]: {
        ...consumer,
        subjectId: BWALYA,
        fields: [
          'drp person.fullName',
          'drp person.permanentAddress',
          'rgd getPersonInfo.dateOfBirth',
          'rgd getPersonInfo.fullName',
        ],
      },
      [CHIPO]: {
        ...consumer,
        subjectId: CHIPO,
        fields: ['rgd getPersonInfo.fullName', 'rgd getPersonInfo.sex'],
      },
    });
    // Everything permitted: no consent involved.
    expect(consent.checks).toEqual([]);
  });

  it('a field selected twice for one citizen (two aliases) is one field in that citizen’s single PDP call', async () => {
    const p = plan(`{ x: personInfo(nic: "${AMARA}") { name sex } y: personInfo(nic: "${AMARA}") { name } }`);
    const policy = fakePolicy(() => 'PERMIT');
    const result = await gateQuery(p, consumer, { policy: policy.client, consent: fakeConsent({}).client });
    expect(policy.calls).toHaveLength(1);
    expect(policy.calls[0]!.fields.map(keyOf).sort()).toEqual([
      'rgd getPersonInfo.fullName',
      'rgd getPersonInfo.sex',
    ]);
    expect([...result.released].sort()).toEqual(p.leaves.map((l) => l.id).sort());
    expect(result.subjects.map((s) => [s.subjectId, s.leafIds.sort()])).toEqual([
      [AMARA, p.leaves.map((l) => l.id).sort()],
    ]);
  });

  it('asks the CE about each citizen with that citizen’s id and only that citizen’s consent-required fields', async () => {
    const p = plan(THREE, threeVars);
    const consent = fakeConsent({});
    await gateQuery(p, consumer, { policy: fakePolicy().client, consent: consent.client });
    const checks = Object.fromEntries(consent.checks.map((c) => [c.citizenId, c.fields.map(keyOf).sort()]));
    expect(consent.checks).toHaveLength(3);
    expect(checks).toEqual({
      [AMARA]: ['drp person.fullName', 'rgd getPersonInfo.dateOfBirth', 'rgd getPersonInfo.fullName'],
      [BWALYA]: [
        'drp person.fullName',
        'drp person.permanentAddress',
        'rgd getPersonInfo.dateOfBirth',
        'rgd getPersonInfo.fullName',
      ],
      [CHIPO]: ['rgd getPersonInfo.fullName', 'rgd getPersonInfo.sex'],
    });
    for (const c of consent.checks) expect(c).toMatchObject(consumer);
    // Nobody has consented: each citizen gets a pending request of their own, for their own fields.
    expect(
      Object.fromEntries(consent.requests.map((r) => [r.citizenId, r.fields.map(keyOf).sort()])),
    ).toEqual(checks);
  });

  it('releases or withholds each citizen’s fields by that citizen’s consent alone', async () => {
    const p = plan(THREE, threeVars);
    const consent = fakeConsent({
      [AMARA]: ALL_PERSON_FIELDS,
      [BWALYA]: ['rgd getPersonInfo.fullName', 'drp person.permanentAddress'],
    });
    const result = await gateQuery(p, consumer, { policy: fakePolicy().client, consent: consent.client });

    const bwalyaReleased = [leafAt(p, 'b.name').id, leafAt(p, 'b.address').id];
    expect([...result.released].sort()).toEqual([...idsUnder(p, 'a'), ...bwalyaReleased].sort());

    const withheld = Object.fromEntries(
      [...result.withheld].map(([id, w]) => [p.leaves[id]!.unifiedPath.join('.'), w]),
    );
    const pendingOf = (nic: string) => ({
      reason: 'CONSENT_REQUIRED',
      code: 'CONSENT_REQUIRED',
      message: expect.any(String),
      extensions: {
        consentId: `pending-${nic}`,
        consentPortalUrl: `https://ce.test/consent/pending-${nic}`,
      },
    });
    expect(withheld).toEqual({
      'b.dateOfBirth': pendingOf(BWALYA),
      'b.fullName': pendingOf(BWALYA),
      'c.name': pendingOf(CHIPO),
      'c.sex': pendingOf(CHIPO),
    });

    // Only the citizens with something missing were asked for a consent, each for their own missing fields.
    expect(
      Object.fromEntries(consent.requests.map((r) => [r.citizenId, r.fields.map(keyOf).sort()])),
    ).toEqual({
      [BWALYA]: ['drp person.fullName', 'rgd getPersonInfo.dateOfBirth'],
      [CHIPO]: ['rgd getPersonInfo.fullName', 'rgd getPersonInfo.sex'],
    });

    const subjects = Object.fromEntries(
      result.subjects.map((s) => [s.subjectId, { ...s, leafIds: [...s.leafIds].sort() }]),
    );
    expect(subjects).toEqual({
      [AMARA]: {
        subjectId: AMARA,
        leafIds: idsUnder(p, 'a').sort(),
        decisionId: `decision-${AMARA}`,
        policyVersion: '7',
        consentId: `active-${AMARA}`,
        pendingConsent: undefined,
      },
      [BWALYA]: {
        subjectId: BWALYA,
        leafIds: idsUnder(p, 'b').sort(),
        decisionId: `decision-${BWALYA}`,
        policyVersion: '7',
        consentId: `active-${BWALYA}`,
        pendingConsent: {
          consentId: `pending-${BWALYA}`,
          consentPortalUrl: `https://ce.test/consent/pending-${BWALYA}`,
        },
      },
      [CHIPO]: {
        subjectId: CHIPO,
        leafIds: idsUnder(p, 'c').sort(),
        decisionId: `decision-${CHIPO}`,
        policyVersion: '7',
        consentId: undefined,
        pendingConsent: {
          consentId: `pending-${CHIPO}`,
          consentPortalUrl: `https://ce.test/consent/pending-${CHIPO}`,
        },
      },
    });
  });

  it('swapping the citizens between aliases swaps what is released', async () => {
    const query =
      'query($a: ID!, $b: ID!) { a: personInfo(nic: $a) { name } b: personInfo(nic: $b) { name } }';
    const consented = { [AMARA]: ALL_PERSON_FIELDS };
    const gate = (vars: Record<string, string>) => {
      const p = plan(query, vars);
      return gateQuery(p, consumer, {
        policy: fakePolicy().client,
        consent: fakeConsent(consented).client,
      }).then((r) => ({ p, r }));
    };
    const first = await gate({ a: AMARA, b: CHIPO });
    expect([...first.r.released]).toEqual(idsUnder(first.p, 'a'));
    expect([...first.r.withheld.keys()]).toEqual(idsUnder(first.p, 'b'));
    const second = await gate({ a: CHIPO, b: AMARA });
    expect([...second.r.released]).toEqual(idsUnder(second.p, 'b'));
    expect([...second.r.withheld.keys()]).toEqual(idsUnder(second.p, 'a'));
  });

  it('a PDP decision for one citizen does not carry over to the same field of another', async () => {
    const p = plan(THREE, threeVars);
    // The PDP forbids Bwalya's address and says nothing about Amara's name; the rest needs consent.
    const policy = fakePolicy((subject, f) => {
      if (subject === BWALYA && f.field === 'person.permanentAddress') return 'DENY';
      if (subject === AMARA && f.field === 'getPersonInfo.fullName') return undefined;
      return 'CONSENT_REQUIRED';
    });
    const everyone = { [AMARA]: ALL_PERSON_FIELDS, [BWALYA]: ALL_PERSON_FIELDS, [CHIPO]: ALL_PERSON_FIELDS };
    const result = await gateQuery(p, consumer, {
      policy: policy.client,
      consent: fakeConsent(everyone).client,
    });
    const forbidden = {
      reason: 'FORBIDDEN',
      code: 'FORBIDDEN',
      message: 'policy does not allow this consumer to read this field for this purpose',
    };
    expect(
      Object.fromEntries([...result.withheld].map(([id, w]) => [p.leaves[id]!.unifiedPath.join('.'), w])),
    ).toEqual({ 'a.name': forbidden, 'b.address': forbidden });
    const everythingElse = p.leaves
      .filter((l) => !['a.name', 'b.address'].includes(l.unifiedPath.join('.')))
      .map((l) => l.id);
    expect([...result.released].sort()).toEqual(everythingElse.sort());
  });

  it('a field the PDP does not mention is DENY: FORBIDDEN, and the CE is not asked about it', async () => {
    const p = plan(`{ personInfo(nic: "${AMARA}") { name address sex } }`);
    const policy = fakePolicy((_s, f) =>
      f.field === 'person.permanentAddress' ? undefined : 'CONSENT_REQUIRED',
    );
    const consent = fakeConsent({ [AMARA]: ALL_PERSON_FIELDS });
    const result = await gateQuery(p, consumer, { policy: policy.client, consent: consent.client });
    expect(result.withheld.get(leafAt(p, 'personInfo.address').id)).toEqual({
      reason: 'FORBIDDEN',
      code: 'FORBIDDEN',
      message: 'policy does not allow this consumer to read this field for this purpose',
    });
    expect([...result.released].sort()).toEqual(
      [leafAt(p, 'personInfo.name').id, leafAt(p, 'personInfo.sex').id].sort(),
    );
    expect(consent.checks.map((c) => c.fields.map(keyOf).sort())).toEqual([
      ['rgd getPersonInfo.fullName', 'rgd getPersonInfo.sex'],
    ]);
  });

  it('a CONSENT_REQUIRED field under a root with no citizen is FORBIDDEN, and no consent is asked for', async () => {
    const p = plan(`{ vehicle(regNo: "CAB-1234") { make model } personInfo(nic: "${AMARA}") { name } }`);
    const policy = fakePolicy((subject, f) =>
      subject === null && f.field === 'vehicle.model' ? 'PERMIT' : 'CONSENT_REQUIRED',
    );
    const consent = fakeConsent({ [AMARA]: ALL_PERSON_FIELDS });
    const result = await gateQuery(p, consumer, { policy: policy.client, consent: consent.client });
    expect(policy.calls.map((c) => c.subjectId).sort()).toEqual([AMARA, null].sort());
    expect(result.withheld.get(leafAt(p, 'vehicle.make').id)).toEqual({
      reason: 'FORBIDDEN',
      code: 'FORBIDDEN',
      message: 'this field needs a citizen’s consent, and the query names no citizen',
    });
    expect([...result.withheld.keys()]).toEqual([leafAt(p, 'vehicle.make').id]);
    expect([...result.released].sort()).toEqual(
      [leafAt(p, 'vehicle.model').id, leafAt(p, 'personInfo.name').id].sort(),
    );
    // The CE was asked about Amara only: never about a citizen-less root, never under Amara's id for it.
    expect(consent.checks).toEqual([
      {
        citizenId: AMARA,
        ...consumer,
        fields: [expect.objectContaining({ field: 'getPersonInfo.fullName' })],
      },
    ]);
    expect(consent.requests).toEqual([]);
    expect(result.subjects.find((s) => s.subjectId === null)).toMatchObject({
      consentId: undefined,
      pendingConsent: undefined,
    });
  });

  it('the PDP failing for one of the citizens refuses the whole query (POLICY_UNAVAILABLE)', async () => {
    const p = plan(THREE, threeVars);
    const policy = fakePolicy(() => 'PERMIT', { failFor: CHIPO });
    const gating = gateQuery(p, consumer, { policy: policy.client, consent: fakeConsent({}).client });
    await expect(gating).rejects.toBeInstanceOf(GateUnavailableError);
    await expect(gating).rejects.toMatchObject({ code: 'POLICY_UNAVAILABLE', httpStatus: 503 });
  });
});
