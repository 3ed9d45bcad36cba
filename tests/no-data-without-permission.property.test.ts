/**
 * No data without permission, as a property, on the real stack. fast-check generates GraphQL operations over
 * every root field of ndx/schema.graphql (aliases, named and inline fragments, a fragment on Query, variables,
 * @skip/@include, several citizens in one operation, the NIC in another spelling) for both consumer apps and
 * several purposes, against a pool of citizens whose consent states were generated too (none, pending, partial,
 * expired, revoked, rejected, for another consumer, for another purpose) and against generated grants (a
 * passport grant missing some fields, an expired grant, the traffic police's time window). For every operation:
 *   - no value that policy and consent do not allow appears in `data` (nor anywhere in the body);
 *   - every withheld path carries an error with the code the policy says (FORBIDDEN or CONSENT_REQUIRED);
 *   - every released value is a value of that citizen's (or that vehicle's) own record;
 *   - every released value has an audit record of this request naming it (and the consent that allowed it),
 *     and nothing is audited as released that the model withholds.
 * The expectation comes from a small model in this file (the policies' grants and field metadata as the PDP's
 * admin API shows them, read by the rules of policies/farajaland.cedar, and the consents this file made), never
 * from the OE's code. The seed of a run is printed first; a failure prints it again with the counterexample.
 * FC_RUNS (default 1000) sets the number of operations, FC_SEED (and FC_PATH) replay a run.
 */
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoCitizens, vehicleClasses, type SyntheticCitizen } from '@ndx/synthetic-data';
import {
  enrolCitizens,
  inTurn,
  fieldKeyOf,
  PASSPORT_FIELDS,
  poolPassword,
  portalSession,
  seededCitizens,
  type FieldRef,
} from './support/consent-pool.ts';
import { freshToken, report } from './support/load.ts';
import { startTestStack, type TestStack } from './support/test-stack.ts';

const RUNS = Number(process.env.FC_RUNS ?? 1_000);
const SEED = Number(process.env.FC_SEED ?? (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) | 0);
const FARAJALAND = 'Africa/Lusaka'; // the PDP's POLICY_TIME_ZONE in the stack
const DALISO = '783345678V';

// ---------------------------------------------------------------------------------------------------------
// The unified schema, as far as the model needs it: each leaf and the provider field behind it, per root.

type TypeName = 'PersonInfo' | 'BirthInfo' | 'VehicleInfo' | 'VehicleClassInfo';
interface FieldDef {
  /** The type of an object or list field's elements; undefined for a leaf. */
  of?: TypeName;
  list?: boolean;
}
const TYPES: Record<TypeName, Record<string, FieldDef>> = {
  PersonInfo: {
    fullName: {},
    name: {},
    otherNames: {},
    address: {},
    profession: {},
    dateOfBirth: {},
    sex: {},
    birthInfo: { of: 'BirthInfo' },
    ownedVehicles: { of: 'VehicleInfo', list: true },
  },
  BirthInfo: { birthRegistrationNumber: {}, birthPlace: {}, district: {} },
  VehicleInfo: { regNo: {}, make: {}, model: {}, year: {}, class: { of: 'VehicleClassInfo', list: true } },
  VehicleClassInfo: { className: {}, classCode: {} },
};
type RootField = 'personInfo' | 'vehicle' | 'vehicleClasses';
const ROOT_TYPE: Record<RootField, TypeName> = {
  personInfo: 'PersonInfo',
  vehicle: 'VehicleInfo',
  vehicleClasses: 'VehicleClassInfo',
};

const RGD = (field: string): FieldRef => ({ providerKey: 'rgd', schemaId: 'abc-212', field });
const DRP = (field: string): FieldRef => ({ providerKey: 'drp', schemaId: 'drp-schema-v1', field });
const DMT = (field: string): FieldRef => ({ providerKey: 'dmt', schemaId: 'dmt-schema-v1', field });
const PERSON_LEAVES: Record<string, FieldRef> = {
  fullName: DRP('person.fullName'),
  name: RGD('getPersonInfo.fullName'),
  otherNames: DRP('person.otherNames'),
  address: DRP('person.permanentAddress'),
  profession: DRP('person.profession'),
  dateOfBirth: RGD('getPersonInfo.dateOfBirth'),
  sex: RGD('getPersonInfo.sex'),
  'birthInfo.birthRegistrationNumber': RGD('getPersonInfo.birthRegistrationNumber'),
  'birthInfo.birthPlace': RGD('getPersonInfo.birthPlace'),
  'birthInfo.district': RGD('getPersonInfo.district'),
};
const VEHICLE_LEAVES: Record<string, string> = {
  regNo: 'registrationNumber',
  make: 'make',
  model: 'model',
  year: 'yearOfManufacture',
  'class.className': 'classes.className',
  'class.classCode': 'classes.classCode',
};

/** The provider field behind a leaf, by root field and the leaf's schema path below it (list indices dropped). */
function providerFieldOf(root: RootField, path: string): FieldRef {
  if (root === 'vehicleClasses') return DMT(`vehicleClasses.${path}`);
  if (root === 'vehicle') return DMT(`vehicle.${VEHICLE_LEAVES[path]}`);
  if (path.startsWith('ownedVehicles.'))
    return DMT(`vehiclesByOwner.${VEHICLE_LEAVES[path.slice('ownedVehicles.'.length)]}`);
  return PERSON_LEAVES[path]!;
}

// ---------------------------------------------------------------------------------------------------------
// Generated operations.

interface Directive {
  name: 'skip' | 'include';
  value: boolean;
  viaVariable: boolean;
}
type Selection =
  | { kind: 'field'; name: string; aliased: boolean; directive: Directive | null; children: Selection[] }
  | { kind: 'inline'; typed: boolean; directive: Directive | null; children: Selection[] }
  | { kind: 'spread'; directive: Directive | null; children: Selection[] };
interface Root {
  field: RootField;
  /** Index into the pool of citizens (personInfo) or of registration numbers (vehicle). */
  subject: number;
  /** personInfo: the NIC as another spelling (lower-case letter, surrounding spaces). */
  respelled: boolean;
  viaVariable: boolean;
  aliased: boolean;
  directive: Directive | null;
  children: Selection[];
}
interface Operation {
  consumer: 'passport-app' | 'traffic-police-app';
  /** The NDX-Purpose header, or null for the consumer's default purpose. */
  purpose: string | null;
  roots: Root[];
  /** Whether the roots are spread from a fragment on Query. */
  queryFragment: boolean;
}

/** One selection in five carries @skip or @include (a literal or a variable). */
const directiveArb: fc.Arbitrary<Directive | null> = fc.oneof(
  { arbitrary: fc.constant(null), weight: 4 },
  {
    arbitrary: fc.record({
      name: fc.constantFrom('skip' as const, 'include' as const),
      value: fc.boolean(),
      viaVariable: fc.boolean(),
    }),
    weight: 1,
  },
);

function selectionsArb(type: TypeName, depth: number): fc.Arbitrary<Selection[]> {
  const fields = Object.keys(TYPES[type]);
  const field: fc.Arbitrary<Selection> = fc.constantFrom(...fields).chain((name) => {
    const def = TYPES[type][name]!;
    const children = def.of ? selectionsArb(def.of, depth + 1) : fc.constant<Selection[]>([]);
    return fc.record({
      kind: fc.constant('field' as const),
      name: fc.constant(name),
      aliased: fc.integer({ min: 0, max: 9 }).map((n) => n < 3),
      directive: directiveArb,
      children,
    });
  });
  const fragment: fc.Arbitrary<Selection> = fc.record({
    kind: fc.constantFrom('inline' as const, 'spread' as const),
    typed: fc.boolean(),
    directive: directiveArb,
    children:
      depth === 0
        ? fc.constant(null).chain(() => selectionsArb(type, depth + 1))
        : fc.constant<Selection[]>([]),
  }) as fc.Arbitrary<Selection>;
  // Fragments at the top of a selection set only: the OE counts each fragment level in the depth (limit 8).
  const one =
    depth === 0 ? fc.oneof({ arbitrary: field, weight: 4 }, { arbitrary: fragment, weight: 1 }) : field;
  return fc
    .array(one, { minLength: 1, maxLength: depth === 0 ? 5 : 3 })
    .filter((s) => s.some((x) => x.kind === 'field' || x.children.length > 0));
}

function operationArb(poolSize: number, regNoCount: number): fc.Arbitrary<Operation> {
  const root = fc
    .constantFrom<RootField>('personInfo', 'personInfo', 'personInfo', 'vehicle', 'vehicleClasses')
    .chain((field) =>
      fc.record({
        field: fc.constant(field),
        subject: fc.nat({ max: (field === 'vehicle' ? regNoCount : poolSize) - 1 }),
        respelled: fc.boolean(),
        viaVariable: fc.boolean(),
        aliased: fc.boolean(),
        directive: fc.oneof(
          { arbitrary: fc.constant(null), weight: 3 },
          { arbitrary: directiveArb, weight: 1 },
        ),
        children: selectionsArb(ROOT_TYPE[field], 0),
      }),
    );
  return fc.record({
    consumer: fc.constantFrom('passport-app' as const, 'traffic-police-app' as const),
    purpose: fc.oneof(
      { arbitrary: fc.constant(null), weight: 3 },
      {
        arbitrary: fc.constantFrom('passport-application', 'traffic-enforcement', 'passport-renewal'),
        weight: 1,
      },
    ),
    roots: fc.array(root, { minLength: 1, maxLength: 4 }),
    queryFragment: fc.boolean(),
  });
}

/** The operation as text and variables (aliases and names made unique in one walk, used by the model too). */
interface Rendered {
  text: string;
  variables: Record<string, unknown>;
  /** Per root: its response key. */
  rootKeys: string[];
  /** Response key of each field selection (the same walk as the text). */
  keys: Map<Selection, string>;
}

function render(op: Operation, subjects: (root: Root) => string): Rendered {
  let aliases = 0;
  let fragments = 0;
  const variables: Record<string, unknown> = {};
  const declarations: string[] = [];
  const definitions: string[] = [];
  const keys = new Map<Selection, string>();
  const directive = (d: Directive | null) => {
    if (!d) return '';
    if (!d.viaVariable) return ` @${d.name}(if: ${d.value})`;
    const name = `b${declarations.length}`;
    declarations.push(`$${name}: Boolean!`);
    variables[name] = d.value;
    return ` @${d.name}(if: $${name})`;
  };
  const selections = (type: TypeName, list: Selection[]): string =>
    list
      .map((s) => {
        if (s.kind === 'field') {
          // At most 10 aliases below the roots (and 4 roots): the OE allows 15.
          const key = s.aliased && aliases < 10 ? `a${aliases++}` : s.name;
          keys.set(s, key);
          const alias = key === s.name ? '' : `${key}: `;
          const def = TYPES[type][s.name]!;
          const body = def.of ? ` { ${selections(def.of, s.children)} }` : '';
          return `${alias}${s.name}${directive(s.directive)}${body}`;
        }
        const inner = selections(type, s.children);
        if (s.kind === 'inline')
          return `...${s.typed ? ` on ${type}` : ''}${directive(s.directive)} { ${inner} }`;
        const name = `F${fragments++}`;
        definitions.push(`fragment ${name} on ${type} { ${inner} }`);
        return `...${name}${directive(s.directive)}`;
      })
      .join(' ');
  const counts = new Map<RootField, number>();
  for (const r of op.roots) counts.set(r.field, (counts.get(r.field) ?? 0) + 1);
  const rootKeys: string[] = [];
  const roots = op.roots.map((r, i) => {
    const key = r.aliased || (counts.get(r.field) ?? 0) > 1 ? `r${i}` : r.field;
    rootKeys.push(key);
    let args = '';
    if (r.field !== 'vehicleClasses') {
      const argName = r.field === 'personInfo' ? 'nic' : 'regNo';
      const value = subjects(r);
      if (r.viaVariable) {
        const name = `s${i}`;
        declarations.push(`$${name}: ID!`);
        variables[name] = value;
        args = `(${argName}: $${name})`;
      } else args = `(${argName}: ${JSON.stringify(value)})`;
    }
    const alias = key === r.field ? '' : `${key}: `;
    return `${alias}${r.field}${args}${directive(r.directive)} { ${selections(ROOT_TYPE[r.field], r.children)} }`;
  });
  let body = roots.join('\n  ');
  if (op.queryFragment) {
    definitions.push(`fragment Roots on Query { ${body} }`);
    body = '...Roots';
  }
  const header = declarations.length ? `query Generated(${declarations.join(', ')})` : 'query Generated';
  return { text: [`${header} {\n  ${body}\n}`, ...definitions].join('\n'), variables, rootKeys, keys };
}

// ---------------------------------------------------------------------------------------------------------
// What the response must hold: GraphQL's field collection (directives, fragments, merging) over the op.

const included = (d: Directive | null) => !d || (d.name === 'skip' ? !d.value : d.value);

/** Response key → the field's name and the selections of every included occurrence (merged). */
interface Collected {
  name: string;
  children: Selection[];
}
function collect(list: Selection[], keys: Map<Selection, string>, into = new Map<string, Collected>()) {
  for (const s of list) {
    if (!included(s.directive)) continue;
    if (s.kind !== 'field') {
      collect(s.children, keys, into);
      continue;
    }
    const key = keys.get(s)!;
    const entry = into.get(key) ?? { name: s.name, children: [] };
    entry.children.push(...s.children);
    into.set(key, entry);
  }
  return into;
}

// ---------------------------------------------------------------------------------------------------------
// The policy model: grants and field metadata from the PDP's admin API, read by farajaland.cedar's rules.

interface Grant {
  consumerId: string;
  purpose: string;
  fields: FieldRef[];
  legalBasis: string;
  expiresAt: string | null;
  window: { start: string; end: string } | null;
}
interface FieldMeta extends FieldRef {
  classification: string;
  consentRequired: boolean;
}
interface PolicyState {
  grants: Grant[];
  purposes: Record<string, string[]>;
  fields: Map<string, FieldMeta>;
}

function farajalandMinute(at: Date): number {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-GB', {
      timeZone: FARAJALAND,
      hourCycle: 'h23',
      hour: '2-digit',
      minute: '2-digit',
    })
      .formatToParts(at)
      .map((p) => [p.type, p.value]),
  );
  return Number(parts['hour']) * 60 + Number(parts['minute']);
}
const clockMinutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

type Verdict = 'PERMIT' | 'FORBIDDEN' | 'CONSENT_REQUIRED';

/** farajaland.cedar: grant permits; personal data needs consent unless another legal basis; the time window. */
function policyVerdict(
  policy: PolicyState,
  request: { consumer: string; purpose: string; hasSubject: boolean },
  ref: FieldRef,
  at: Date,
): Verdict {
  const { consumer, purpose } = request;
  const meta = policy.fields.get(fieldKeyOf(ref));
  const grant = policy.grants.find((g) => g.consumerId === consumer && g.purpose === purpose);
  if (!meta || !grant || !(policy.purposes[consumer] ?? []).includes(purpose)) return 'FORBIDDEN';
  if (!grant.fields.some((f) => fieldKeyOf(f) === fieldKeyOf(ref))) return 'FORBIDDEN';
  if (grant.expiresAt && at >= new Date(grant.expiresAt)) return 'FORBIDDEN';
  if (meta.classification !== 'public' && grant.window) {
    const [start, end, now] = [
      clockMinutes(grant.window.start),
      clockMinutes(grant.window.end),
      farajalandMinute(at),
    ];
    const inside = start <= end ? now >= start && now < end : now >= start || now < end;
    if (!inside) return 'FORBIDDEN';
  }
  const personal =
    meta.consentRequired || meta.classification === 'confidential' || meta.classification === 'restricted';
  if (!personal || grant.legalBasis !== 'consent') return 'PERMIT';
  // Consent can only be asked of a data subject (personInfo's nic, fl-config's dataSubjects).
  return request.hasSubject ? 'CONSENT_REQUIRED' : 'FORBIDDEN';
}

// ---------------------------------------------------------------------------------------------------------
// The pool of citizens and their consents (the model's copy of what this file did through the real APIs).

type ConsentKind =
  'active' | 'partial' | 'expired' | 'revoked' | 'rejected' | 'pending' | 'otherConsumer' | 'otherPurpose';
interface ModelConsent {
  id: string;
  consumerId: string;
  purpose: string;
  /** ACTIVE and unexpired, with these fields granted; otherwise nothing is granted. */
  live: boolean;
  granted: Set<string>;
  kind: ConsentKind;
}
interface PoolCitizen {
  nic: string;
  record: SyntheticCitizen | null;
  consents: ModelConsent[];
  plan: string;
}

/** What the registries hold for a citizen, by schema path below personInfo. */
function personValues(record: SyntheticCitizen | null): Record<string, string | null> {
  const b = record?.birth;
  const p = record?.person;
  return {
    fullName: p?.fullName ?? null,
    name: b?.fullName ?? null,
    otherNames: p?.otherNames ?? null,
    address: p?.permanentAddress ?? null,
    profession: p?.profession ?? null,
    dateOfBirth: b?.dateOfBirth ?? null,
    sex: b?.sex ?? null,
    'birthInfo.birthRegistrationNumber': b?.birthRegistrationNumber ?? null,
    'birthInfo.birthPlace': b?.birthPlace ?? null,
    'birthInfo.district': b?.district ?? null,
  };
}
type Vehicle = SyntheticCitizen['vehicles'][number];
const className = (code: string) => vehicleClasses.find((c) => c.classCode === code)?.className ?? null;
/** The values a vehicle leaf may take (any class of the vehicle for the class leaves). */
function vehicleValues(v: Vehicle, path: string): unknown[] {
  switch (path) {
    case 'regNo':
      return [v.registrationNumber];
    case 'make':
      return [v.make];
    case 'model':
      return [v.model];
    case 'year':
      return [v.yearOfManufacture];
    case 'class.classCode':
      return [...v.classCodes];
    case 'class.className':
      return v.classCodes.map(className);
    default:
      return [];
  }
}

// ---------------------------------------------------------------------------------------------------------

interface GraphQLError {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string; [k: string]: unknown };
}
interface Answer {
  status: number;
  reference: string | null;
  text: string;
  data?: Record<string, unknown> | null;
  errors?: GraphQLError[];
}

let t: TestStack;
const tokens: Record<string, () => Promise<string>> = {};
let audit: pg.Pool;
let consentDb: pg.Pool;
let policy: PolicyState;
const pool: PoolCitizen[] = [];
const regNos: { regNo: string; vehicle: Vehicle | null }[] = [];
/** Shown with a failure: the generated grants and consent states. */
let stateSummary = '';

async function admin(method: string, path: string, token: string, body?: unknown): Promise<unknown> {
  const response = await fetch(`${t.url('policy-decision-point')}/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  const answer = (await response.json()) as unknown;
  if (response.status >= 300)
    throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(answer)}`);
  return answer;
}

const hhmm = (minutes: number) => {
  const m = ((minutes % 1440) + 1440) % 1440;
  return `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
};

/** The generated grant state: passport fields left out of the passport grant; the renewal grant's expiry. */
interface GrantState {
  passportLeftOut: FieldRef[];
  renewalExpiredDaysAgo: number;
}
const grantStateArb: fc.Arbitrary<GrantState> = fc.record({
  passportLeftOut: fc.subarray(PASSPORT_FIELDS, { maxLength: 3 }),
  renewalExpiredDaysAgo: fc.integer({ min: 1, max: 400 }),
});

/** Applies the generated grants through the PDP's admin API (activated), then reads the policy state back. */
async function setUpGrants(state: GrantState): Promise<void> {
  const pdpAdmin = await t.clientToken('ndx-operator', 'urn:ndx:pdp', 'admin');
  const { grants } = (await admin('GET', '/grants', pdpAdmin)) as { grants: Grant[] };
  const passport = grants.find((g) => g.consumerId === 'passport-app')!;
  const police = grants.find((g) => g.consumerId === 'traffic-police-app')!;
  const leftOut = new Set(state.passportLeftOut.map(fieldKeyOf));
  const put = (consumer: string, purpose: string, grant: Omit<Grant, 'consumerId' | 'purpose'>) =>
    admin('PUT', `/grants/${consumer}/${purpose}`, pdpAdmin, {
      reason: 'property test',
      activate: true,
      fields: grant.fields,
      legalBasis: grant.legalBasis,
      expiresAt: grant.expiresAt,
      window: grant.window,
    });
  await put('passport-app', 'passport-application', {
    ...passport,
    fields: passport.fields.filter((f) => !leftOut.has(fieldKeyOf(f))),
  });
  // The police's shift: four hours either side of now (a run never reaches its edges).
  const now = farajalandMinute(new Date());
  await put('traffic-police-app', 'traffic-enforcement', {
    ...police,
    window: { start: hhmm(now - 240), end: hhmm(now + 240) },
  });
  // A second purpose of the passport app whose grant has expired.
  const consumersAnswer = (await admin('GET', '/consumers', pdpAdmin)) as {
    consumers: { consumerId: string; displayName: string; member: string; purposes: string[] }[];
  };
  const passportApp = consumersAnswer.consumers.find((c) => c.consumerId === 'passport-app')!;
  await admin('PUT', '/consumers/passport-app', pdpAdmin, {
    reason: 'property test',
    activate: true,
    displayName: passportApp.displayName,
    member: passportApp.member,
    purposes: [...passportApp.purposes, 'passport-renewal'],
  });
  await put('passport-app', 'passport-renewal', {
    fields: passport.fields,
    legalBasis: 'consent',
    expiresAt: new Date(Date.now() - state.renewalExpiredDaysAgo * 86_400_000).toISOString(),
    window: null,
  });

  const after = (await admin('GET', '/grants', pdpAdmin)) as { grants: Grant[] };
  const fields = (await admin('GET', '/fields', pdpAdmin)) as { fields: FieldMeta[] };
  const registry = (await admin('GET', '/consumers', pdpAdmin)) as typeof consumersAnswer;
  policy = {
    grants: after.grants,
    purposes: Object.fromEntries(registry.consumers.map((c) => [c.consumerId, c.purposes])),
    fields: new Map(fields.fields.map((f) => [fieldKeyOf(f), f])),
  };
}

/** A consent plan for one citizen: what to request and how the citizen decides. */
interface ConsentPlan {
  kind: ConsentKind;
  fields: FieldRef[];
  approve: FieldRef[];
}
const consentPlanArb: fc.Arbitrary<ConsentPlan> = fc.record({
  kind: fc.constantFrom<ConsentKind>(
    'active',
    'partial',
    'expired',
    'revoked',
    'rejected',
    'pending',
    'otherConsumer',
    'otherPurpose',
  ),
  fields: fc.subarray(PASSPORT_FIELDS, { minLength: 1 }),
  approve: fc.subarray(PASSPORT_FIELDS, { minLength: 1 }),
});

/** Carries out a citizen's consent plans through the CE's API and the portal; returns the model's consents. */
async function setUpConsents(
  nic: string,
  password: string,
  plans: ConsentPlan[],
  operatorToken: string,
): Promise<ModelConsent[]> {
  const session = await portalSession(t, nic, password);
  const consents: ModelConsent[] = [];
  // Pending requests last: a later identical request would reuse (and decide) an open one.
  const ordered = [...plans].sort((a, b) => Number(a.kind === 'pending') - Number(b.kind === 'pending'));
  for (const plan of ordered) {
    const consumerId = plan.kind === 'otherConsumer' ? 'traffic-police-app' : 'passport-app';
    const purpose = plan.kind === 'otherPurpose' ? 'traffic-enforcement' : 'passport-application';
    const response = await fetch(`${t.url('consent-engine')}/v1/consents`, {
      method: 'POST',
      headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ citizenId: nic, consumerId, purpose, fields: plan.fields }),
    });
    const opened = (await response.json()) as { consentId: string; status: string; fields: FieldRef[] };
    expect(response.status, JSON.stringify(opened)).toBeLessThan(300);
    // Everything asked is covered already (the CE then answers with the covering consent): nothing to add.
    if (opened.status !== 'PENDING') continue;
    const asked = opened.fields.map(fieldKeyOf);
    const chosen = plan.approve.map(fieldKeyOf).filter((k) => asked.includes(k));
    const approved = plan.kind === 'partial' && chosen.length > 0 ? chosen : asked;
    const consent: ModelConsent = {
      id: opened.consentId,
      consumerId,
      purpose,
      live: false,
      granted: new Set(),
      kind: plan.kind,
    };
    consents.push(consent);
    if (plan.kind === 'pending') continue;
    if (plan.kind === 'rejected') {
      await session.decide(consent.id, 'deny');
      continue;
    }
    await session.decide(
      consent.id,
      approved.length === asked.length
        ? 'approve-all'
        : { approve: opened.fields.filter((f) => approved.includes(fieldKeyOf(f))) },
    );
    if (plan.kind === 'revoked') {
      const revoked = await fetch(`${t.url('consent-engine')}/v1/consents/${consent.id}/revoke`, {
        method: 'POST',
        headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' },
        body: '{}',
      });
      expect(revoked.status).toBe(200);
    } else if (plan.kind === 'expired') {
      // Time passing, the one thing the API cannot do: the consent ended a minute ago.
      await consentDb.query(`UPDATE consents SET expires_at = now() - interval '1 minute' WHERE id = $1`, [
        consent.id,
      ]);
    } else {
      consent.live = true;
      consent.granted = new Set(approved);
    }
  }
  return consents;
}

/** The CE's own view of every consent the model holds must be the model's (status and granted fields). */
async function expectCeAgreesWithModel(operatorToken: string): Promise<void> {
  for (const citizen of pool) {
    for (const consent of citizen.consents) {
      const response = await fetch(`${t.url('consent-engine')}/v1/consents/${consent.id}`, {
        headers: { authorization: `Bearer ${operatorToken}` },
      });
      const body = (await response.json()) as {
        status: string;
        fields: (FieldRef & { granted: boolean | null })[];
      };
      const expected = {
        active: 'ACTIVE',
        partial: 'ACTIVE',
        otherConsumer: 'ACTIVE',
        otherPurpose: 'ACTIVE',
        expired: 'EXPIRED',
        revoked: 'REVOKED',
        rejected: 'REJECTED',
        pending: 'PENDING',
      }[consent.kind];
      expect(body.status, `${citizen.nic} ${consent.kind} ${consent.id}`).toBe(expected);
      if (consent.live)
        expect(
          body.fields
            .filter((f) => f.granted)
            .map(fieldKeyOf)
            .sort(),
        ).toEqual([...consent.granted].sort());
    }
  }
}

beforeAll(async () => {
  report(`no-data-without-permission: seed ${SEED}, ${RUNS} runs (replay with FC_SEED=${SEED})`);
  const setupStarted = performance.now();
  t = await startTestStack({ only: ['orchestration-engine'] });
  const stackReady = performance.now();
  const operatorToken = await t.clientToken('ndx-operator', 'urn:ndx:consent', 'admin');
  for (const consumer of ['passport-app', 'traffic-police-app'])
    tokens[consumer] = freshToken(() => t.clientToken(consumer, 'urn:ndx:api'));
  audit = new pg.Pool({ connectionString: t.databaseUrl('ndx_audit'), max: 2 });
  consentDb = new pg.Pool({ connectionString: t.databaseUrl('ndx_consent'), max: 1 });

  // The local stack's demo consent: Daliso approved the whole passport query (seed-demo-consent.ts).
  const seededRows = await consentDb.query<{ id: string }>(
    `SELECT id FROM consents WHERE citizen_id = $1 AND status = 'ACTIVE'`,
    [DALISO],
  );
  expect(seededRows.rows).toHaveLength(1);
  const dalisoSeeded = seededRows.rows[0]!.id;
  const [grantState] = fc.sample(grantStateArb, { seed: SEED, numRuns: 1 });
  await setUpGrants(grantState!);

  // The pool: demo citizens who can sign in (Chipo's second factor keeps her out of the portal: no consent),
  // seeded citizens (some with vehicles) given accounts, and a NIC no registry knows.
  const seeded = seededCitizens();
  const byNic = new Map(seeded.map((c) => [c.birth.nic, c]));
  const generated = [
    ...seeded.filter((c) => c.index >= 6 && c.vehicles.length > 0).slice(0, 3),
    ...seeded.filter((c) => c.index >= 6 && c.vehicles.length === 0 && c.person !== null).slice(0, 3),
  ];
  await enrolCitizens(
    t,
    generated.map((c) => ({ nic: c.birth.nic, name: c.birth.fullName })),
  );
  const signers = [
    ...demoCitizens.filter((c) => !c.totpSecret).map((c) => ({ nic: c.nic, password: c.password })),
    ...generated.map((c) => ({ nic: c.birth.nic, password: poolPassword(c.birth.nic) })),
  ];
  const plans = fc.sample(
    fc.array(fc.array(consentPlanArb, { maxLength: 3 }), {
      minLength: signers.length,
      maxLength: signers.length,
    }),
    {
      seed: SEED + 1,
      numRuns: 1,
    },
  )[0]!;
  const made = await inTurn(signers, 2, (s) =>
    setUpConsents(s.nic, s.password, plans[signers.indexOf(s)]!, operatorToken),
  );
  signers.forEach((s, i) => {
    const consents = made[i]!;
    if (s.nic === DALISO)
      consents.push({
        id: dalisoSeeded,
        consumerId: 'passport-app',
        purpose: 'passport-application',
        live: true,
        granted: new Set(PASSPORT_FIELDS.map(fieldKeyOf)),
        kind: 'active',
      });
    pool.push({
      nic: s.nic,
      record: byNic.get(s.nic) ?? null,
      consents,
      plan: consents.map((c) => `${c.kind}${c.live ? `[${c.granted.size}]` : ''}`).join(',') || 'none',
    });
  });
  pool.push({ nic: '200150500789', record: byNic.get('200150500789')!, consents: [], plan: 'none (TOTP)' });
  pool.push({ nic: '190012345678', record: null, consents: [], plan: 'unknown to every registry' });
  for (const citizen of pool)
    for (const v of citizen.record?.vehicles ?? []) regNos.push({ regNo: v.registrationNumber, vehicle: v });
  regNos.push({ regNo: 'ZZZ-0000', vehicle: null });
  await expectCeAgreesWithModel(operatorToken);
  stateSummary = [
    `grants: passport grant without ${grantState!.passportLeftOut.map(fieldKeyOf).join(', ') || 'nothing'}; passport-renewal expired ${grantState!.renewalExpiredDaysAgo} days ago`,
    ...pool.map((c) => `${c.nic}: ${c.plan}`),
  ].join('\n');
  const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  report(
    `no-data-without-permission: stack ${seconds(stackReady - setupStarted)}, grants and consents ${seconds(performance.now() - stackReady)}; state\n${stateSummary}`,
  );
}, 300_000);

afterAll(async () => {
  await audit?.end();
  await consentDb?.end();
  await t?.stop();
});

// ---------------------------------------------------------------------------------------------------------

/** One leaf of the response with what the model says of it. */
interface Expected {
  root: Root;
  rootKey: string;
  responsePath: string;
  schemaPath: string;
  ref: FieldRef;
  /** null: released; otherwise the code its error must carry. */
  withheld: 'FORBIDDEN' | 'CONSENT_REQUIRED' | null;
  /** The consents that may be credited with the release (empty for a policy release). */
  consents: string[];
  citizen: PoolCitizen | null;
}

/** Every leaf schema path below a type (dotted), for the nodes an error may sit on. */
function allLeaves(type: TypeName): string[] {
  return Object.entries(TYPES[type]).flatMap(([name, def]) =>
    def.of ? allLeaves(def.of).map((p) => `${name}.${p}`) : [name],
  );
}

/** A root, object or list node of the response. */
interface Node {
  root: Root;
  schemaPath: string;
  type: TypeName;
}

interface Model {
  leaves: Expected[];
  /** Response path → node, for every root and object or list field in the response. */
  nodes: Map<string, Node>;
  /** What the model says of any leaf below a root (selected or not). */
  judge: (root: Root, schemaPath: string) => Pick<Expected, 'ref' | 'withheld' | 'consents' | 'citizen'>;
}

function expectations(op: Operation, rendered: Rendered, at: Date): Model {
  const consumer = op.consumer;
  const purpose =
    op.purpose ?? (consumer === 'passport-app' ? 'passport-application' : 'traffic-enforcement');
  const judge: Model['judge'] = (root, schemaPath) => {
    const citizen = root.field === 'personInfo' ? pool[root.subject]! : null;
    const ref = providerFieldOf(root.field, schemaPath);
    const verdict = policyVerdict(policy, { consumer, purpose, hasSubject: citizen !== null }, ref, at);
    const covering = (citizen?.consents ?? []).filter(
      (c) => c.live && c.consumerId === consumer && c.purpose === purpose && c.granted.has(fieldKeyOf(ref)),
    );
    const withheld =
      verdict === 'FORBIDDEN'
        ? 'FORBIDDEN'
        : verdict === 'CONSENT_REQUIRED' && covering.length === 0
          ? 'CONSENT_REQUIRED'
          : null;
    return {
      ref,
      withheld,
      consents: verdict === 'CONSENT_REQUIRED' ? covering.map((c) => c.id) : [],
      citizen,
    };
  };
  const leaves: Expected[] = [];
  const nodes = new Map<string, Node>();
  const rootEntries = new Map<string, Root[]>();
  op.roots.forEach((r, i) => {
    if (included(r.directive))
      rootEntries.set(rendered.rootKeys[i]!, [...(rootEntries.get(rendered.rootKeys[i]!) ?? []), r]);
  });
  const walk = (root: Root, rootKey: string, type: TypeName, list: Selection[], prefix: [string, string]) => {
    for (const [key, entry] of collect(list, rendered.keys)) {
      const responsePath = `${prefix[0]}.${key}`;
      const schemaPath = prefix[1] ? `${prefix[1]}.${entry.name}` : entry.name;
      const def = TYPES[type][entry.name]!;
      if (def.of) {
        nodes.set(responsePath, { root, schemaPath, type: def.of });
        walk(root, rootKey, def.of, entry.children, [responsePath, schemaPath]);
      } else leaves.push({ root, rootKey, responsePath, schemaPath, ...judge(root, schemaPath) });
    }
  };
  for (const [rootKey, roots] of rootEntries) {
    const root = roots[0]!;
    nodes.set(rootKey, { root, schemaPath: '', type: ROOT_TYPE[root.field] });
    walk(
      root,
      rootKey,
      ROOT_TYPE[root.field],
      roots.flatMap((r) => r.children),
      [rootKey, ''],
    );
  }
  return { leaves, nodes, judge };
}

/** Every (path without list indices, value) of the leaves in data under a root key. */
function leafValuesIn(value: unknown, path: string, out: { path: string; value: unknown }[] = []) {
  if (Array.isArray(value)) for (const v of value) leafValuesIn(v, path, out);
  else if (value !== null && typeof value === 'object')
    for (const [k, v] of Object.entries(value)) leafValuesIn(v, path ? `${path}.${k}` : k, out);
  else out.push({ path, value });
  return out;
}

/** The values the model allows at a released leaf. */
function allowedValues(e: Expected): unknown[] {
  const root = e.root;
  if (root.field === 'vehicleClasses') {
    return vehicleClasses.map((c) => (e.schemaPath === 'className' ? c.className : c.classCode));
  }
  if (root.field === 'vehicle') {
    const v = regNos[root.subject]!.vehicle;
    return v ? vehicleValues(v, e.schemaPath) : [];
  }
  if (e.schemaPath.startsWith('ownedVehicles.')) {
    const path = e.schemaPath.slice('ownedVehicles.'.length);
    return (e.citizen!.record?.vehicles ?? []).flatMap((v) => vehicleValues(v, path));
  }
  return [personValues(e.citizen!.record)[e.schemaPath]];
}

async function query(op: Operation, rendered: Rendered): Promise<Answer> {
  const response = await fetch(`${t.url('orchestration-engine')}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${await tokens[op.consumer]!()}`,
      ...(op.purpose ? { 'ndx-purpose': op.purpose } : {}),
    },
    body: JSON.stringify({ query: rendered.text, variables: rendered.variables }),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await response.text();
  return {
    status: response.status,
    reference: response.headers.get('ndx-audit-reference'),
    text,
    ...(JSON.parse(text) as object),
  };
}

interface AuditRow {
  citizen_id: string | null;
  fields_released: (FieldRef & { allowedBy?: { basis: string; consentId?: string } })[];
}

/** Checks one answer against the model; throws (with the operation and answer) on the first violation. */
async function checkAnswer(op: Operation, rendered: Rendered, answer: Answer, at: Date): Promise<void> {
  const context = `\n${rendered.text}\nvariables ${JSON.stringify(rendered.variables)}\nconsumer ${op.consumer} purpose ${op.purpose ?? '(default)'}\nanswer ${answer.text.slice(0, 4000)}`;
  expect(answer.status, context).toBe(200);
  expect(answer.data, context).toBeTypeOf('object');
  const model = expectations(op, rendered, at);
  const expected = model.leaves;
  const byPath = new Map<string, Expected>(expected.map((e) => [e.responsePath, e]));
  const errors = answer.errors ?? [];
  const errorPath = (e: GraphQLError) => (e.path ?? []).filter((p) => typeof p === 'string').join('.');

  // 1. Every non-null value in data is at a released leaf and is that subject's own value.
  const released: { e: Expected; value: unknown }[] = [];
  for (const { path, value } of leafValuesIn(answer.data, '')) {
    if (value === null) continue;
    const e = byPath.get(path);
    expect(e, `a value at ${path}, which the operation does not select${context}`).not.toBeUndefined();
    expect(e!.withheld, `${path} holds ${JSON.stringify(value)} but is ${e!.withheld}${context}`).toBeNull();
    expect(allowedValues(e!), `${path}: not this subject's value${context}`).toContainEqual(value);
    released.push({ e: e!, value });
  }

  // 2. Every withheld leaf is null and carries an error with the model's code, on it or on a list above it.
  for (const e of expected.filter((x) => x.withheld)) {
    const carrying = errors.filter((err) => {
      const p = errorPath(err);
      return p === e.responsePath || e.responsePath.startsWith(`${p}.`);
    });
    expect(
      carrying.map((err) => err.extensions?.code),
      `withheld ${e.responsePath} (${fieldKeyOf(e.ref)})${context}`,
    ).toContain(e.withheld);
  }
  // And no policy or consent error on a leaf the model releases.
  for (const err of errors) {
    const code = err.extensions?.code;
    expect(code, `an error without a code${context}`).toEqual(expect.any(String));
    if (code !== 'FORBIDDEN' && code !== 'CONSENT_REQUIRED') continue;
    const p = errorPath(err);
    const under = expected.filter((e) => e.responsePath === p || e.responsePath.startsWith(`${p}.`));
    for (const e of under) expect(e.withheld, `${code} on ${p} over ${e.responsePath}${context}`).toBe(code);
    if (under.length > 0) continue;
    // On a list or object whose selected leaves were all skipped: the OE gates the node itself, which is
    // right only if the model withholds every leaf that could be below it, with that code.
    const node = model.nodes.get(p);
    expect(node, `${code} on ${p}, which the response does not have${context}`).not.toBeUndefined();
    for (const leaf of allLeaves(node!.type)) {
      const schemaPath = node!.schemaPath ? `${node!.schemaPath}.${leaf}` : leaf;
      expect(model.judge(node!.root, schemaPath).withheld, `${code} on ${p} (${schemaPath})${context}`).toBe(
        code,
      );
    }
  }

  // 3. No withheld value anywhere in the body (unless it is also one this answer may show).
  const shown = new Set(released.map((r) => String(r.value)));
  for (const e of expected.filter((x) => x.withheld)) {
    for (const value of allowedValues(e)) {
      if (typeof value !== 'string' || value.length < 6) continue;
      const asked = rendered.text + JSON.stringify(rendered.variables);
      if ([...shown].some((s) => s.includes(value)) || asked.includes(value)) continue;
      expect(
        answer.text.includes(value),
        `withheld value ${value} of ${e.responsePath} in the body${context}`,
      ).toBe(false);
    }
  }

  // 4. Every released value is named by an audit record of this request (its citizen's, and the consent that
  //    allowed it); nothing withheld by the model is audited as released.
  if (released.length === 0 && !answer.reference) return;
  expect(answer.reference, `no audit reference${context}`).toMatch(/^[0-9a-f-]{36}$/);
  const { rows } = await audit.query<AuditRow>(
    'SELECT citizen_id, fields_released FROM audit_log WHERE reference = $1',
    [answer.reference],
  );
  for (const { e } of released) {
    const citizenId = e.citizen ? canonicalOf(e.citizen.nic) : null;
    const entries = rows
      .filter((r) => r.citizen_id === citizenId)
      .flatMap((r) => r.fields_released)
      .filter((f) => fieldKeyOf(f) === fieldKeyOf(e.ref));
    expect(
      entries.length,
      `released ${e.responsePath} (${fieldKeyOf(e.ref)}) not audited${context}`,
    ).toBeGreaterThan(0);
    if (e.consents.length > 0) {
      expect(entries[0]!.allowedBy?.basis, `${e.responsePath}${context}`).toBe('consent');
      expect(e.consents, `${e.responsePath} credited to another consent${context}`).toContain(
        entries[0]!.allowedBy?.consentId,
      );
    } else expect(entries[0]!.allowedBy?.basis, `${e.responsePath}${context}`).toBe('policy');
  }
  for (const row of rows) {
    for (const f of row.fields_released) {
      // The OE may fetch (and audit) a field the operation did not select, to shape an empty selection (a
      // list whose leaves were all skipped): allowed only where the model would release that field.
      const allowed = op.roots.some(
        (root) =>
          included(root.directive) &&
          (root.field === 'personInfo' ? canonicalOf(pool[root.subject]!.nic) : null) === row.citizen_id &&
          allLeaves(ROOT_TYPE[root.field]).some(
            (path) =>
              fieldKeyOf(providerFieldOf(root.field, path)) === fieldKeyOf(f) &&
              model.judge(root, path).withheld === null,
          ),
      );
      expect(allowed, `audited as released for ${row.citizen_id}: ${fieldKeyOf(f)}${context}`).toBe(true);
    }
  }
}

/** The NIC rule's tolerance (whitespace and hyphens dropped, letter upper-cased). */
const canonicalOf = (nic: string) => nic.replace(/[\s-]+/g, '').toUpperCase();

/** The NIC as sent: canonical, or spelled another way the NIC rule accepts. */
function spelling(nic: string, respelled: boolean): string {
  if (!respelled) return nic;
  return /[VX]$/.test(nic) ? nic.toLowerCase() : ` ${nic} `;
}

describe('no data without permission', () => {
  it('generated operations against generated grants and consents release only what policy and consent allow, each value audited', async () => {
    const started = performance.now();
    let runs = 0;
    const property = fc.asyncProperty(operationArb(pool.length, regNos.length), async (op) => {
      runs++;
      const rendered = render(op, (root) =>
        root.field === 'personInfo'
          ? spelling(pool[root.subject]!.nic, root.respelled)
          : regNos[root.subject]!.regNo,
      );
      const at = new Date();
      const answer = await query(op, rendered);
      await checkAnswer(op, rendered, answer, at);
    });
    try {
      await fc.assert(property, {
        numRuns: RUNS,
        seed: SEED,
        ...(process.env.FC_PATH ? { path: process.env.FC_PATH } : {}),
        endOnFailure: process.env.FC_SHRINK !== '1',
      });
    } catch (err) {
      console.error(`no-data-without-permission FAILED with seed ${SEED}\nstate:\n${stateSummary}`);
      throw err;
    }
    report(
      `no-data-without-permission: ${runs} operations in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
    expect(runs).toBe(RUNS);
  }, 600_000);
});
