/**
 * The OE's gating stage on its own: which data subject each planned leaf belongs to (by fl-config's
 * `dataSubjects` rules), and how one query naming several citizens is decided citizen by citizen. Plans come
 * from the real planner; the PDP and CE are in-test fakes that record what they were asked and answer in the
 * contract's shapes (this stage's only collaborators).
 */
import { describe, expect, it } from 'vitest';
import { parse, validate } from 'graphql';
import {
  consentCheckResponseSchema,
  consentCreateResponseSchema,
  fieldKey,
  fieldRefOf,
  policyDecisionResponseSchema,
  type ConsentRequestBody,
  type DataSubjectRule,
  type FieldRef,
  type PolicyDecision,
  type PolicyDecisionReason,
  type PolicyDecisionRequest,
} from '@ndx/contract';
import { NdxError } from '@ndx/service-kit';
import { leavesByDataSubject, withCanonicalSubjects } from '../src/data-subjects.ts';
import { loadFlConfig } from '../src/fl-config.ts';
import type { ConsentClient, PolicyClient } from '../src/gate-clients.ts';
import { fieldOfLeaf, gateQuery, GateUnavailableError } from '../src/gating.ts';
import { createQueryPlanner } from '../src/planner.ts';
import type { PlannedLeaf, QueryPlan } from '../src/query-plan.ts';
import { loadUnifiedSchema } from '../src/schema.ts';

const { schema } = loadUnifiedSchema();
const { argMappings, dataSubjects } = loadFlConfig(undefined, { env: {} });
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

/** Field keys (`provider/schema/field`) of the providers' fields used here. */
const rgd = (field: string) => `rgd/abc-212/getPersonInfo.${field}`;
const drp = (field: string) => `drp/drp-schema-v1/person.${field}`;
const dmt = (field: string) => `dmt/dmt-schema-v1/${field}`;

const leafKey = (l: PlannedLeaf) =>
  fieldKey({ providerKey: l.providerKey, schemaId: l.schemaId, field: l.providerField });
/** Each subject's leaves as `unified.path -> provider field key`, sorted. */
function grouped(
  plan: QueryPlan,
  rules: readonly DataSubjectRule[] = dataSubjects,
): Record<string, string[]> {
  return Object.fromEntries(
    [...leavesByDataSubject(plan, rules)].map(([subject, leaves]) => [
      String(subject),
      leaves.map((l) => `${l.unifiedPath.join('.')} -> ${leafKey(l)}`).sort(),
    ]),
  );
}
/** The leaf ids of a plan whose unified path starts with `rootKey`. */
const idsUnder = (plan: QueryPlan, rootKey: string) =>
  plan.leaves.filter((l) => l.unifiedPath[0] === rootKey).map((l) => l.id);
const leafAt = (plan: QueryPlan, path: string) => plan.leaves.find((l) => l.unifiedPath.join('.') === path)!;
/** The plan with one root field's (coerced) arguments replaced, as if a caller had sent them. */
const withArguments = (plan: QueryPlan, responseKey: string, args: Record<string, unknown>): QueryPlan => ({
  ...plan,
  rootFields: plan.rootFields.map((r) => (r.responseKey === responseKey ? { ...r, arguments: args } : r)),
});

/** What `run` threw, which must be an NdxError. */
function ndxErrorOf(run: () => unknown): NdxError {
  let caught: unknown;
  try {
    run();
  } catch (err) {
    caught = err;
  }
  expect(caught).toBeInstanceOf(NdxError);
  return caught as NdxError;
}

// ---------------------------------------------------------------------------------------------------------
// In-test PDP and CE: decisions and consents per citizen, every call recorded, every answer in the
// contract's shape (parsed with the contract's schemas, as the real clients do).

const DECIDED_AT = '2030-01-01T00:00:00.000Z';
const REASON_OF: Record<PolicyDecision, PolicyDecisionReason> = {
  PERMIT: 'PERMITTED',
  DENY: 'POLICY_FORBIDS',
  CONSENT_REQUIRED: 'CONSENT_REQUIRED',
};

function fakePolicy(
  decide: (subjectId: string | null, field: FieldRef) => PolicyDecision | undefined = () =>
    'CONSENT_REQUIRED',
  options: { failFor?: string } = {},
) {
  const calls: PolicyDecisionRequest[] = [];
  const client: PolicyClient = {
    decide: async (request) => {
      calls.push(request);
      if (request.subjectId === options.failFor) throw new Error('PDP unreachable');
      return policyDecisionResponseSchema.parse({
        decisionId: `decision-${request.subjectId}`,
        policyVersion: 7,
        decidedAt: DECIDED_AT,
        fields: request.fields.flatMap((f) => {
          const decision = decide(request.subjectId ?? null, f);
          return decision ? [{ ...f, decision, policyIds: ['p1'], reason: REASON_OF[decision] }] : [];
        }),
      });
    },
  };
  return { client, calls };
}

/** `consented`: per citizen, the field keys an active consent covers. */
function fakeConsent(consented: Record<string, string[]>) {
  const checks: ConsentRequestBody[] = [];
  const requests: ConsentRequestBody[] = [];
  const client: ConsentClient = {
    check: async (request) => {
      checks.push(request);
      const active = consented[request.citizenId];
      const covered = new Set(active ?? []);
      const missingFields = request.fields.filter((f) => !covered.has(fieldKey(f))).map(fieldRefOf);
      return consentCheckResponseSchema.parse({
        covered: missingFields.length === 0,
        ...(active ? { consentId: `active-${request.citizenId}` } : {}),
        consentIds: active ? [`active-${request.citizenId}`] : [],
        coveredBy: request.fields
          .filter((f) => covered.has(fieldKey(f)))
          .map((f) => ({ ...fieldRefOf(f), consentId: `active-${request.citizenId}` })),
        missingFields,
      });
    },
    requestConsent: async (request) => {
      requests.push(request);
      return consentCreateResponseSchema.parse({
        consentId: `pending-${request.citizenId}`,
        status: 'PENDING',
        consentPortalUrl: `https://ce.test/consent/pending-${request.citizenId}`,
        created: true,
        expiresAt: '2030-01-02T00:00:00.000Z',
        fields: request.fields.map((f) => ({
          ...fieldRefOf(f),
          displayName: f.displayName ?? f.field,
          granted: null,
        })),
      });
    },
  };
  return { client, checks, requests };
}

const ALL_PERSON_FIELDS = [
  rgd('fullName'),
  rgd('dateOfBirth'),
  rgd('sex'),
  rgd('birthRegistrationNumber'),
  rgd('birthPlace'),
  rgd('district'),
  drp('fullName'),
  drp('otherNames'),
  drp('permanentAddress'),
  drp('profession'),
];

// ---------------------------------------------------------------------------------------------------------

describe('the data subject of a root field, by the dataSubjects rules of fl-config.json', () => {
  it('personInfo names its citizen, the NIC normalised to upper case without spaces', () => {
    expect([
      ...leavesByDataSubject(plan(`{ personInfo(nic: "${AMARA}") { name } }`), dataSubjects).keys(),
    ]).toEqual([AMARA]);
    const spaced = plan('{ personInfo(nic: " 852321234v ") { name address ownedVehicles { make } } }');
    expect([...leavesByDataSubject(spaced, dataSubjects).keys()]).toEqual([BWALYA]);
    // The plan the OE gates and fetches with names the citizen the same way everywhere: in the root
    // field's arguments and in every provider variable bound from them.
    const canonical = withCanonicalSubjects(spaced, dataSubjects);
    expect(canonical.rootFields.map((r) => r.arguments)).toEqual([{ nic: BWALYA }]);
    expect(Object.fromEntries(canonical.providers.map((p) => [p.providerKey, p.variableValues]))).toEqual({
      rgd: { personInfo_nic: BWALYA },
      drp: { personInfo_nic: BWALYA },
      dmt: { personInfo_ownerNic: BWALYA },
    });
    expect(canonical.providers.flatMap((p) => p.variables.map((v) => v.value))).toEqual([
      BWALYA,
      BWALYA,
      BWALYA,
    ]);
    expect([...leavesByDataSubject(canonical, dataSubjects).keys()]).toEqual([BWALYA]);
  });

  it('an invalid or missing NIC is an NdxError BAD_USER_INPUT (400) naming the argument', () => {
    const valid = plan(`{ personInfo(nic: "${AMARA}") { name } }`);
    const invalidPlans = [
      plan('{ personInfo(nic: "12345") { name } }'),
      plan('{ personInfo(nic: "852321234Z") { name } }'),
      // An ID literal written as a number: coerced to the string "852321234", which is no NIC.
      plan('{ personInfo(nic: 852321234) { name } }'),
      withArguments(valid, 'personInfo', { nic: 852321234 }),
      withArguments(valid, 'personInfo', {}),
    ];
    const expectRejected = (run: () => unknown, argument: string) => {
      const err = ndxErrorOf(run);
      expect({ code: err.code, httpStatus: err.httpStatus, details: err.details }).toEqual({
        code: 'BAD_USER_INPUT',
        httpStatus: 400,
        details: { argument },
      });
      expect(err.message).toContain(argument);
    };
    for (const p of invalidPlans) {
      expectRejected(() => leavesByDataSubject(p, dataSubjects), 'nic');
      expectRejected(() => withCanonicalSubjects(p, dataSubjects), 'nic');
    }
    // The argument named is the rule's, whatever it is called.
    const byRegNo: DataSubjectRule[] = [{ rootField: 'vehicle', argument: 'regNo', identifier: 'nic' }];
    const vehicle = plan('{ vehicle(regNo: "CAB-1234") { make } }');
    expectRejected(() => leavesByDataSubject(vehicle, byRegNo), 'regNo');
    expectRejected(() => withCanonicalSubjects(vehicle, byRegNo), 'regNo');
  });

  it('a root field that no rule names has no data subject (null), whatever its arguments hold', () => {
    expect(grouped(plan('{ vehicle(regNo: "CAB-1234") { make } vehicleClasses { classCode } }'))).toEqual({
      null: [
        `vehicle.make -> ${dmt('vehicle.make')}`,
        `vehicleClasses.[].classCode -> ${dmt('vehicleClasses.classCode')}`,
      ],
    });
    // A NIC-shaped argument on a root no rule names does not make it a citizen's.
    const nicShaped = plan(`{ vehicle(regNo: "${AMARA}") { make } }`);
    expect(grouped(nicShaped)).toEqual({ null: [`vehicle.make -> ${dmt('vehicle.make')}`] });
    expect(withCanonicalSubjects(nicShaped, dataSubjects)).toBe(nicShaped);
    // Without a rule, not even personInfo names anyone, and its argument is left as sent.
    const person = plan('{ personInfo(nic: " 852321234v ") { name } }');
    expect(grouped(person, [])).toEqual({ null: [`personInfo.name -> ${rgd('fullName')}`] });
    expect(withCanonicalSubjects(person, [])).toBe(person);
    // Control: under a rule, the same NIC-shaped vehicle argument does name a citizen.
    const byRegNo: DataSubjectRule[] = [{ rootField: 'vehicle', argument: 'regNo', identifier: 'nic' }];
    expect(grouped(nicShaped, byRegNo)).toEqual({ [AMARA]: [`vehicle.make -> ${dmt('vehicle.make')}`] });
  });
});

describe('leavesByDataSubject: every leaf under the citizen of its own root field', () => {
  it('aliases of personInfo for two citizens: each alias’s leaves under its own citizen', () => {
    const p = plan(`{
      a: personInfo(nic: "${AMARA}") { name address }
      b: personInfo(nic: "852321234v") { sex birthInfo { district } address }
    }`);
    expect(grouped(p)).toEqual({
      [AMARA]: [`a.address -> ${drp('permanentAddress')}`, `a.name -> ${rgd('fullName')}`],
      [BWALYA]: [
        `b.address -> ${drp('permanentAddress')}`,
        `b.birthInfo.district -> ${rgd('district')}`,
        `b.sex -> ${rgd('sex')}`,
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
        `a.birthInfo.birthPlace -> ${rgd('birthPlace')}`,
        `a.name -> ${rgd('fullName')}`,
        `a.profession -> ${drp('profession')}`,
      ],
      [CHIPO]: [
        `c.birthInfo.birthPlace -> ${rgd('birthPlace')}`,
        `c.name -> ${rgd('fullName')}`,
        `c.otherNames -> ${drp('otherNames')}`,
      ],
    });
  });

  it('variables bind each alias to the citizen its variable names, also when the cached plan is reused', () => {
    const query =
      'query Two($a: ID!, $b: ID!) { a: personInfo(nic: $a) { name } b: personInfo(nic: $b) { sex } }';
    const cachedBefore = planner.cachedPlans();
    expect(grouped(plan(query, { a: AMARA, b: CHIPO }))).toEqual({
      [AMARA]: [`a.name -> ${rgd('fullName')}`],
      [CHIPO]: [`b.sex -> ${rgd('sex')}`],
    });
    // Same operation text: the planner answers from its cache; the subjects must follow the new values.
    expect(grouped(plan(query, { a: CHIPO, b: AMARA }))).toEqual({
      [CHIPO]: [`a.name -> ${rgd('fullName')}`],
      [AMARA]: [`b.sex -> ${rgd('sex')}`],
    });
    expect(planner.cachedPlans()).toBe(cachedBefore + 1);
  });

  it('the same citizen under two aliases (and two spellings of the NIC) is one data subject', () => {
    const p = plan(
      `{ x: personInfo(nic: "852321234V") { name } y: personInfo(nic: " 852321234v") { fullName } }`,
    );
    expect(grouped(p)).toEqual({
      [BWALYA]: [`x.name -> ${rgd('fullName')}`, `y.fullName -> ${drp('fullName')}`],
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
        `vehicle.make -> ${dmt('vehicle.make')}`,
        `vehicleClasses.[].classCode -> ${dmt('vehicleClasses.classCode')}`,
      ],
      [AMARA]: [`personInfo.ownedVehicles.[].model -> ${dmt('vehiclesByOwner.model')}`],
    });
  });

  it('one invalid NIC among several citizens rejects the whole query (BAD_USER_INPUT)', () => {
    const p = plan(`{ a: personInfo(nic: "${AMARA}") { name } b: personInfo(nic: "12345") { name } }`);
    expect(() => leavesByDataSubject(p, dataSubjects)).toThrow(
      expect.objectContaining({ code: 'BAD_USER_INPUT', httpStatus: 400, details: { argument: 'nic' } }),
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
  const gate = (
    p: QueryPlan,
    policy: ReturnType<typeof fakePolicy>,
    consent: ReturnType<typeof fakeConsent>,
  ) => gateQuery(p, consumer, { policy: policy.client, consent: consent.client, dataSubjects });
  const keysOf = (fields: readonly FieldRef[]) => fields.map(fieldKey).sort();

  it('calls the PDP once per citizen, with exactly that citizen’s fields', async () => {
    const p = plan(THREE, threeVars);
    const policy = fakePolicy(() => 'PERMIT');
    const consent = fakeConsent({});
    await gate(p, policy, consent);
    const bySubject = Object.fromEntries(
      policy.calls.map((c) => [c.subjectId, { ...c, fields: keysOf(c.fields) }]),
    );
    expect(policy.calls).toHaveLength(3);
    expect(bySubject).toEqual({
      [AMARA]: {
        ...consumer,
        subjectId: AMARA,
        fields: [drp('fullName'), rgd('dateOfBirth'), rgd('fullName')],
      },
      [BWALYA]: {
        ...consumer,
        subjectId: BWALYA,
        fields: [drp('fullName'), drp('permanentAddress'), rgd('dateOfBirth'), rgd('fullName')],
      },
      [CHIPO]: {
        ...consumer,
        subjectId: CHIPO,
        fields: [rgd('fullName'), rgd('sex')],
      },
    });
    // Everything permitted: no consent involved.
    expect(consent.checks).toEqual([]);
  });

  it('a field selected twice for one citizen (two aliases) is one field in that citizen’s single PDP call', async () => {
    const p = plan(`{ x: personInfo(nic: "${AMARA}") { name sex } y: personInfo(nic: "${AMARA}") { name } }`);
    const policy = fakePolicy(() => 'PERMIT');
    const result = await gate(p, policy, fakeConsent({}));
    expect(policy.calls).toHaveLength(1);
    expect(keysOf(policy.calls[0]!.fields)).toEqual([rgd('fullName'), rgd('sex')]);
    expect([...result.released].sort()).toEqual(p.leaves.map((l) => l.id).sort());
    expect(result.subjects.map((s) => [s.subjectId, s.leafIds.sort()])).toEqual([
      [AMARA, p.leaves.map((l) => l.id).sort()],
    ]);
  });

  it('asks the CE about each citizen with that citizen’s id and only that citizen’s consent-required fields', async () => {
    const p = plan(THREE, threeVars);
    const consent = fakeConsent({});
    await gate(p, fakePolicy(), consent);
    const checks = Object.fromEntries(consent.checks.map((c) => [c.citizenId, keysOf(c.fields)]));
    expect(consent.checks).toHaveLength(3);
    expect(checks).toEqual({
      [AMARA]: [drp('fullName'), rgd('dateOfBirth'), rgd('fullName')],
      [BWALYA]: [drp('fullName'), drp('permanentAddress'), rgd('dateOfBirth'), rgd('fullName')],
      [CHIPO]: [rgd('fullName'), rgd('sex')],
    });
    for (const c of consent.checks) expect(c).toMatchObject(consumer);
    // Nobody has consented: each citizen gets a pending request of their own, for their own fields.
    expect(consent.requests).toHaveLength(3);
    for (const r of consent.requests) expect(r).toMatchObject(consumer);
    expect(Object.fromEntries(consent.requests.map((r) => [r.citizenId, keysOf(r.fields)]))).toEqual(checks);
  });

  it('releases or withholds each citizen’s fields by that citizen’s consent alone', async () => {
    const p = plan(THREE, threeVars);
    const consent = fakeConsent({
      [AMARA]: ALL_PERSON_FIELDS,
      [BWALYA]: [rgd('fullName'), drp('permanentAddress')],
    });
    const result = await gate(p, fakePolicy(), consent);

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
    expect(Object.fromEntries(consent.requests.map((r) => [r.citizenId, keysOf(r.fields)]))).toEqual({
      [BWALYA]: [drp('fullName'), rgd('dateOfBirth')],
      [CHIPO]: [rgd('fullName'), rgd('sex')],
    });

    const subjects = Object.fromEntries(
      result.subjects.map((s) => [s.subjectId, { ...s, leafIds: [...s.leafIds].sort() }]),
    );
    // Each released field is credited to the consent of its own citizen, and nothing withheld is credited.
    const allowedByConsent = (leafIds: number[], consentId: string) =>
      new Map(
        leafIds.map((id) => [fieldKey(fieldOfLeaf(p.leaves[id]!)), { basis: 'consent', consentId }] as const),
      );
    expect(subjects).toEqual({
      [AMARA]: {
        subjectId: AMARA,
        leafIds: idsUnder(p, 'a').sort(),
        decisionId: `decision-${AMARA}`,
        policyVersion: '7',
        consentId: `active-${AMARA}`,
        pendingConsent: undefined,
        allowedBy: allowedByConsent(idsUnder(p, 'a'), `active-${AMARA}`),
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
        allowedBy: allowedByConsent(bwalyaReleased, `active-${BWALYA}`),
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
        allowedBy: new Map(),
      },
    });
  });

  it('swapping the citizens between aliases swaps what is released', async () => {
    const query =
      'query($a: ID!, $b: ID!) { a: personInfo(nic: $a) { name } b: personInfo(nic: $b) { name } }';
    const consented = { [AMARA]: ALL_PERSON_FIELDS };
    const gateWith = async (vars: Record<string, string>) => {
      const p = plan(query, vars);
      return { p, r: await gate(p, fakePolicy(), fakeConsent(consented)) };
    };
    const first = await gateWith({ a: AMARA, b: CHIPO });
    expect([...first.r.released]).toEqual(idsUnder(first.p, 'a'));
    expect([...first.r.withheld.keys()]).toEqual(idsUnder(first.p, 'b'));
    const second = await gateWith({ a: CHIPO, b: AMARA });
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
    const result = await gate(p, policy, fakeConsent(everyone));
    const forbidden = (reason: string) => ({
      reason: 'FORBIDDEN',
      code: 'FORBIDDEN',
      message: 'policy does not allow this consumer to read this field for this purpose',
      extensions: { reason },
    });
    // Bwalya's address was forbidden by a policy; Amara's name was never granted (the PDP left it out).
    expect(
      Object.fromEntries([...result.withheld].map(([id, w]) => [p.leaves[id]!.unifiedPath.join('.'), w])),
    ).toEqual({ 'a.name': forbidden('NOT_GRANTED'), 'b.address': forbidden('POLICY_FORBIDS') });
    const everythingElse = p.leaves
      .filter((l) => !['a.name', 'b.address'].includes(l.unifiedPath.join('.')))
      .map((l) => l.id);
    expect([...result.released].sort()).toEqual(everythingElse.sort());
  });

  it('a field the PDP does not mention is FORBIDDEN (NOT_GRANTED), and the CE is not asked about it', async () => {
    const p = plan(`{ personInfo(nic: "${AMARA}") { name address sex } }`);
    const policy = fakePolicy((_s, f) =>
      f.field === 'person.permanentAddress' ? undefined : 'CONSENT_REQUIRED',
    );
    const consent = fakeConsent({ [AMARA]: ALL_PERSON_FIELDS });
    const result = await gate(p, policy, consent);
    expect(result.withheld.get(leafAt(p, 'personInfo.address').id)).toEqual({
      reason: 'FORBIDDEN',
      code: 'FORBIDDEN',
      message: 'policy does not allow this consumer to read this field for this purpose',
      extensions: { reason: 'NOT_GRANTED' },
    });
    expect([...result.withheld.keys()]).toEqual([leafAt(p, 'personInfo.address').id]);
    expect([...result.released].sort()).toEqual(
      [leafAt(p, 'personInfo.name').id, leafAt(p, 'personInfo.sex').id].sort(),
    );
    expect(consent.checks.map((c) => keysOf(c.fields))).toEqual([[rgd('fullName'), rgd('sex')]]);
  });

  it('a CONSENT_REQUIRED field under a root with no citizen is FORBIDDEN, and no consent is asked for', async () => {
    const p = plan(`{ vehicle(regNo: "CAB-1234") { make model } personInfo(nic: "${AMARA}") { name } }`);
    const policy = fakePolicy((subject, f) =>
      subject === null && f.field === 'vehicle.model' ? 'PERMIT' : 'CONSENT_REQUIRED',
    );
    const consent = fakeConsent({ [AMARA]: ALL_PERSON_FIELDS });
    const result = await gate(p, policy, consent);
    expect(policy.calls.map((c) => c.subjectId).sort()).toEqual([AMARA, null].sort());
    expect(result.withheld.get(leafAt(p, 'vehicle.make').id)).toEqual({
      reason: 'FORBIDDEN',
      code: 'FORBIDDEN',
      message: 'this field needs a citizen’s consent, and the query names no citizen',
      extensions: { reason: 'POLICY_FORBIDS' },
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
        fields: [{ providerKey: 'rgd', schemaId: 'abc-212', field: 'getPersonInfo.fullName' }],
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
    const gating = gate(p, policy, fakeConsent({}));
    await expect(gating).rejects.toBeInstanceOf(GateUnavailableError);
    await expect(gating).rejects.toMatchObject({ code: 'POLICY_UNAVAILABLE', httpStatus: 503 });
  });
});
