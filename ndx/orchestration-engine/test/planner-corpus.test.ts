import { describe, expect, it } from 'vitest';
import { parse, stripIgnoredCharacters, validate } from 'graphql';
import { loadFlConfig } from '../src/fl-config.ts';
import { loadUnifiedSchema } from '../src/schema.ts';
import { createQueryPlanner } from '../src/planner.ts';
import { PlanningError } from '../src/planning-error.ts';
import type { QueryPlan } from '../src/query-plan.ts';

const { schema } = loadUnifiedSchema();
const { argMappings } = loadFlConfig(undefined, { env: {} });

const rgd = (sel: string) =>
  `query ndx_rgd($personInfo_nic:ID!){personInfo:getPersonInfo(nic:$personInfo_nic){${sel}}}`;
const drp = (sel: string) =>
  `query ndx_drp($personInfo_nic:ID!){personInfo:person(nic:$personInfo_nic){${sel}}}`;
const owned = (sel: string) =>
  `query ndx_dmt($personInfo_ownerNic:ID!){personInfo:vehiclesByOwner(ownerNic:$personInfo_ownerNic){${sel}}}`;
const vehicle = (sel: string) => `query ndx_dmt($vehicle_regNo:ID!){vehicle(regNo:$vehicle_regNo){${sel}}}`;

const NIC = '199012345678';
const nicVars = { nic: NIC };
const P = (body: string) => `query Q($nic: ID!) { personInfo(nic: $nic) { ${body} } }`;

interface Case {
  name: string;
  query: string;
  variables?: Record<string, unknown>;
  operationName?: string;
  /** Expected sub-queries by provider (compact form); providers not named must not be called. */
  expect: Record<string, string>;
  /** Expected provider variable values by provider. */
  variables_?: Record<string, Record<string, unknown>>;
}

const cases: Case[] = [
  {
    name: 'a DRP leaf becomes person(nic:)',
    query: P('fullName'),
    variables: nicVars,
    expect: { drp: drp('fullName') },
  },
  {
    name: 'name comes from RGD fullName',
    query: P('name'),
    variables: nicVars,
    expect: { rgd: rgd('fullName') },
  },
  {
    name: 'address maps to permanentAddress',
    query: P('address'),
    variables: nicVars,
    expect: { drp: drp('permanentAddress') },
  },
  {
    name: 'optional DRP fields',
    query: P('otherNames profession'),
    variables: nicVars,
    expect: { drp: drp('otherNames profession') },
  },
  {
    name: 'fields of two providers split into two sub-queries',
    query: P('fullName dateOfBirth sex'),
    variables: nicVars,
    expect: { drp: drp('fullName'), rgd: rgd('dateOfBirth sex') },
  },
  {
    name: 'birthInfo flattens into getPersonInfo',
    query: P('birthInfo { birthRegistrationNumber birthPlace district }'),
    variables: nicVars,
    expect: { rgd: rgd('birthRegistrationNumber birthPlace district') },
  },
  {
    name: 'the passport query reaches all three providers',
    query: P(
      'fullName name address profession dateOfBirth sex birthInfo { birthPlace district } ownedVehicles { regNo make model year }',
    ),
    variables: nicVars,
    expect: {
      drp: drp('fullName permanentAddress profession'),
      rgd: rgd('fullName dateOfBirth sex birthPlace district'),
      dmt: owned('registrationNumber make model yearOfManufacture'),
    },
    variables_: {
      drp: { personInfo_nic: NIC },
      rgd: { personInfo_nic: NIC },
      dmt: { personInfo_ownerNic: NIC },
    },
  },
  {
    name: 'ownedVehicles is vehiclesByOwner with ownerNic',
    query: P('ownedVehicles { regNo }'),
    variables: nicVars,
    expect: { dmt: owned('registrationNumber') },
  },
  {
    name: 'a nested list inside a list',
    query: P('ownedVehicles { make class { className classCode } }'),
    variables: nicVars,
    expect: { dmt: owned('make classes{className classCode}') },
  },
  {
    name: 'a literal argument is passed as a variable',
    query: '{ vehicle(regNo: "CAB-1234") { make model } }',
    expect: { dmt: vehicle('make model') },
    variables_: { dmt: { vehicle_regNo: 'CAB-1234' } },
  },
  {
    name: 'a variable argument is passed as a variable',
    query: 'query V($r: ID!) { vehicle(regNo: $r) { year class { classCode } } }',
    variables: { r: 'WP-9999' },
    expect: { dmt: vehicle('yearOfManufacture classes{classCode}') },
    variables_: { dmt: { vehicle_regNo: 'WP-9999' } },
  },
  {
    name: 'vehicleClasses has no arguments',
    query: '{ vehicleClasses { className classCode } }',
    expect: { dmt: 'query ndx_dmt{vehicleClasses{className classCode}}' },
  },
  {
    name: 'an aliased leaf reads the provider field',
    query: P('registeredName: name'),
    variables: nicVars,
    expect: { rgd: rgd('fullName') },
  },
  {
    name: 'the same leaf under two aliases is fetched once',
    query: P('a: fullName b: fullName'),
    variables: nicVars,
    expect: { drp: drp('fullName') },
  },
  {
    name: 'the same root field twice with different arguments gives separate aliased selections',
    query: '{ a: personInfo(nic: "123456789V") { name } b: personInfo(nic: "987654321X") { name } }',
    expect: {
      rgd: 'query ndx_rgd($a_nic:ID!$b_nic:ID!){a:getPersonInfo(nic:$a_nic){fullName}b:getPersonInfo(nic:$b_nic){fullName}}',
    },
    variables_: { rgd: { a_nic: '123456789V', b_nic: '987654321X' } },
  },
  {
    name: 'aliased roots keep each its own fields',
    query: '{ a: personInfo(nic: "123456789V") { name } b: personInfo(nic: "987654321X") { fullName } }',
    expect: {
      rgd: 'query ndx_rgd($a_nic:ID!){a:getPersonInfo(nic:$a_nic){fullName}}',
      drp: 'query ndx_drp($b_nic:ID!){b:person(nic:$b_nic){fullName}}',
    },
  },
  {
    name: 'two vehicles by alias',
    query: 'query($x: ID!, $y: ID!) { x: vehicle(regNo: $x) { make } y: vehicle(regNo: $y) { model } }',
    variables: { x: 'A-1', y: 'B-2' },
    expect: {
      dmt: 'query ndx_dmt($x_regNo:ID!$y_regNo:ID!){x:vehicle(regNo:$x_regNo){make}y:vehicle(regNo:$y_regNo){model}}',
    },
    variables_: { dmt: { x_regNo: 'A-1', y_regNo: 'B-2' } },
  },
  {
    name: 'a person and a vehicle in one query share the DMT sub-query',
    query:
      'query($nic: ID!) { personInfo(nic: $nic) { ownedVehicles { regNo } }vehicle(regNo: "Z-1") { make } }',
    variables: nicVars,
    expect: {
      dmt: 'query ndx_dmt($personInfo_ownerNic:ID!$vehicle_regNo:ID!){personInfo:vehiclesByOwner(ownerNic:$personInfo_ownerNic){registrationNumber}vehicle(regNo:$vehicle_regNo){make}}',
    },
  },
  {
    name: 'a named fragment',
    query:
      'query Q($nic: ID!) { personInfo(nic: $nic) { ...Names } } fragment Names on PersonInfo { fullName name }',
    variables: nicVars,
    expect: { drp: drp('fullName'), rgd: rgd('fullName') },
  },
  {
    name: 'a fragment spreading a fragment',
    query:
      'query Q($nic: ID!) { personInfo(nic: $nic) { ...Outer } } fragment Outer on PersonInfo { sex birthInfo { ...Birth } } fragment Birth on BirthInfo { district }',
    variables: nicVars,
    expect: { rgd: rgd('sex district') },
  },
  {
    name: 'an inline fragment with a type condition',
    query: P('... on PersonInfo { address }'),
    variables: nicVars,
    expect: { drp: drp('permanentAddress') },
  },
  {
    name: 'an inline fragment without a type condition',
    query: P('... { profession }'),
    variables: nicVars,
    expect: { drp: drp('profession') },
  },
  {
    name: 'a VehicleInfo fragment used under vehicle and under ownedVehicles',
    query:
      'query($nic: ID!) { personInfo(nic: $nic) { ownedVehicles { ...V } }vehicle(regNo: "Q-7") { ...V } } fragment V on VehicleInfo { make class { className } }',
    variables: nicVars,
    expect: {
      dmt: 'query ndx_dmt($personInfo_ownerNic:ID!$vehicle_regNo:ID!){personInfo:vehiclesByOwner(ownerNic:$personInfo_ownerNic){make classes{className}}vehicle(regNo:$vehicle_regNo){make classes{className}}}',
    },
  },
  {
    name: 'a fragment and a field selecting the same leaf merge',
    query: 'query Q($nic: ID!) { personInfo(nic: $nic) { name ...N } } fragment N on PersonInfo { name sex }',
    variables: nicVars,
    expect: { rgd: rgd('fullName sex') },
  },
  {
    name: '@skip(if: true) drops the field',
    query: P('fullName name @skip(if: true)'),
    variables: nicVars,
    expect: { drp: drp('fullName') },
  },
  {
    name: '@include(if: false) drops the field',
    query: P('fullName address @include(if: false)'),
    variables: nicVars,
    expect: { drp: drp('fullName') },
  },
  {
    name: '@include(if: true) keeps the field',
    query: P('fullName address @include(if: true)'),
    variables: nicVars,
    expect: { drp: drp('fullName permanentAddress') },
  },
  {
    name: '@skip with a variable set to true',
    query: 'query($nic: ID!, $s: Boolean!) { personInfo(nic: $nic) { fullName sex @skip(if: $s) } }',
    variables: { nic: NIC, s: true },
    expect: { drp: drp('fullName') },
  },
  {
    name: '@skip with a variable set to false',
    query: 'query($nic: ID!, $s: Boolean!) { personInfo(nic: $nic) { fullName sex @skip(if: $s) } }',
    variables: { nic: NIC, s: false },
    expect: { drp: drp('fullName'), rgd: rgd('sex') },
  },
  {
    name: '@include with a defaulted variable',
    query:
      'query($nic: ID!, $v: Boolean = false) { personInfo(nic: $nic) { name ownedVehicles @include(if: $v) { make } } }',
    variables: nicVars,
    expect: { rgd: rgd('fullName') },
  },
  {
    name: '@skip on a fragment spread',
    query:
      'query Q($nic: ID!) { personInfo(nic: $nic) { fullName ...B @skip(if: true) } } fragment B on PersonInfo { sex }',
    variables: nicVars,
    expect: { drp: drp('fullName') },
  },
  {
    name: '@include on an inline fragment',
    query: P('fullName ... @include(if: false) { name } ... @include(if: true) { dateOfBirth }'),
    variables: nicVars,
    expect: { drp: drp('fullName'), rgd: rgd('dateOfBirth') },
  },
  {
    name: '@skip on a whole root field leaves no provider call for it',
    query: 'query($nic: ID!) { personInfo(nic: $nic) @skip(if: true) { name }vehicle(regNo: "A") { make } }',
    variables: nicVars,
    expect: { dmt: vehicle('make') },
  },
  {
    name: '__typename alone needs no provider',
    query: '{ __typename }',
    expect: {},
  },
  {
    name: '__typename beside provider fields',
    query: P('__typename name'),
    variables: nicVars,
    expect: { rgd: rgd('fullName') },
  },
  {
    name: 'a list with only __typename still fetches (a gated) field to learn its elements',
    query: P('ownedVehicles { __typename }'),
    variables: nicVars,
    expect: { dmt: owned('registrationNumber') },
  },
  {
    name: 'the same field selected twice without alias is merged',
    query: P('ownedVehicles { make } ownedVehicles { model }'),
    variables: nicVars,
    expect: { dmt: owned('make model') },
  },
  {
    name: 'operationName picks one of several operations',
    query:
      'query A($nic: ID!) { personInfo(nic: $nic) { name } } query B($nic: ID!) { personInfo(nic: $nic) { address } }',
    operationName: 'B',
    variables: nicVars,
    expect: { drp: drp('permanentAddress') },
  },
  {
    name: 'a variable default value is used',
    query: 'query($nic: ID! = "123456789V") { personInfo(nic: $nic) { fullName } }',
    expect: { drp: drp('fullName') },
    variables_: { drp: { personInfo_nic: '123456789V' } },
  },
  {
    name: 'provider fields keep first-use order',
    query: P('sex name dateOfBirth'),
    variables: nicVars,
    expect: { rgd: rgd('sex fullName dateOfBirth') },
  },
  {
    name: 'a root alias is the provider alias',
    query: 'query($nic: ID!) { citizen: personInfo(nic: $nic) { fullName } }',
    variables: nicVars,
    expect: { drp: 'query ndx_drp($citizen_nic:ID!){citizen:person(nic:$citizen_nic){fullName}}' },
  },
  {
    name: 'aliases inside lists',
    query: P('cars: ownedVehicles { reg: regNo kinds: class { code: classCode } }'),
    variables: nicVars,
    expect: { dmt: owned('registrationNumber classes{classCode}') },
  },
  {
    name: 'an @include variable inside a fragment used twice',
    query:
      'query($a: ID!, $b: ID!, $m: Boolean!) { a: vehicle(regNo: $a) { ...F } b: vehicle(regNo: $b) { ...F } } fragment F on VehicleInfo { regNo model @include(if: $m) }',
    variables: { a: 'A', b: 'B', m: true },
    expect: {
      dmt: 'query ndx_dmt($a_regNo:ID!$b_regNo:ID!){a:vehicle(regNo:$a_regNo){registrationNumber model}b:vehicle(regNo:$b_regNo){registrationNumber model}}',
    },
  },
  {
    name: 'a user value never enters the query text',
    query: '{ personInfo(nic: "1) { x } #") { fullName } }',
    expect: { drp: drp('fullName') },
    variables_: { drp: { personInfo_nic: '1) { x } #' } },
  },
];

function compact(plan: QueryPlan): Record<string, string> {
  return Object.fromEntries(plan.providers.map((p) => [p.providerKey, stripIgnoredCharacters(p.query)]));
}

describe('the planner turns unified operations into one sub-query per provider', () => {
  const planner = createQueryPlanner({ schema, argMappings });
  it('has a corpus of at least 40 operations', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });
  for (const c of cases) {
    it(c.name, () => {
      const document = parse(c.query);
      expect(validate(schema, document)).toEqual([]);
      const plan = planner.plan({
        document,
        source: c.query,
        operationName: c.operationName,
        variables: c.variables,
      });
      expect(compact(plan)).toEqual(c.expect);
      for (const [providerKey, values] of Object.entries(c.variables_ ?? {})) {
        expect(plan.providers.find((p) => p.providerKey === providerKey)?.variableValues).toEqual(values);
      }
    });
  }
});

interface ErrorCase {
  name: string;
  query: string;
  variables?: Record<string, unknown>;
  operationName?: string;
  code: string;
  message: RegExp;
}

const errorCases: ErrorCase[] = [
  {
    name: 'an unknown field',
    query: P('shoeSize'),
    variables: nicVars,
    code: 'UNKNOWN_FIELD',
    message: /"shoeSize" on type "PersonInfo"/,
  },
  {
    name: 'an unknown field in a nested list',
    query: P('ownedVehicles { colour }'),
    variables: nicVars,
    code: 'UNKNOWN_FIELD',
    message: /"colour" on type "VehicleInfo"/,
  },
  {
    name: 'an unknown root field',
    query: '{ everything { x } }',
    code: 'UNKNOWN_FIELD',
    message: /"everything" on type "Query"/,
  },
  {
    name: 'a mutation',
    query: 'mutation { personInfo(nic: "1") { name } }',
    code: 'OPERATION_NOT_SUPPORTED',
    message: /Only queries/,
  },
  { name: 'a missing required variable', query: P('name'), code: 'BAD_USER_INPUT', message: /\$nic/ },
  {
    name: 'a variable of the wrong type',
    query: P('name'),
    variables: { nic: { not: 'an id' } },
    code: 'BAD_USER_INPUT',
    message: /\$nic/,
  },
  {
    name: 'an unknown operation name',
    query: P('name'),
    variables: nicVars,
    operationName: 'Nope',
    code: 'OPERATION_NOT_FOUND',
    message: /"Nope"/,
  },
  {
    name: 'several operations without a name',
    query: '{ vehicle(regNo: "a") { make } } query B { vehicle(regNo: "b") { make } }',
    code: 'OPERATION_NOT_FOUND',
    message: /operation name/,
  },
  {
    name: 'an unknown fragment',
    query: P('...Missing'),
    variables: nicVars,
    code: 'UNKNOWN_FRAGMENT',
    message: /"Missing"/,
  },
];

describe('the planner rejects operations it cannot plan with a clear error', () => {
  const planner = createQueryPlanner({ schema, argMappings });
  for (const c of errorCases) {
    it(`${c.name} is ${c.code}`, () => {
      const document = parse(c.query);
      let caught: unknown;
      try {
        planner.plan({ document, source: c.query, operationName: c.operationName, variables: c.variables });
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(PlanningError);
      expect((caught as PlanningError).code).toBe(c.code);
      expect((caught as PlanningError).httpStatus).toBe(400);
      expect((caught as PlanningError).message).toMatch(c.message);
    });
  }

  it('validation rejects unknown fields before planning too', () => {
    expect(validate(schema, parse(P('shoeSize'))).map((e) => e.message)).toEqual([
      'Cannot query field "shoeSize" on type "PersonInfo".',
    ]);
  });
});
