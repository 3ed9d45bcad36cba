import { describe, expect, it } from 'vitest';
import { parse, stripIgnoredCharacters } from 'graphql';
import { loadFlConfig } from '../src/fl-config.ts';
import { loadUnifiedSchema } from '../src/schema.ts';
import { mergeResults, unifiedPathOf } from '../src/merger.ts';
import { createQueryPlanner, planQuery } from '../src/planner.ts';
import type { PlannedLeaf } from '../src/query-plan.ts';
import { buildSubQuery } from '../src/sub-query.ts';

const { schema } = loadUnifiedSchema();
const { argMappings } = loadFlConfig(undefined, { env: {} });
const NIC = '199012345678';

function plan(query: string, variables: Record<string, unknown> = { nic: NIC }) {
  return planQuery(schema, argMappings, { document: parse(query), variables });
}

const PASSPORT = `query($nic: ID!) { personInfo(nic: $nic) {
  __typename fullName name address birthInfo { district } ownedVehicles { regNo make class { classCode } } } }`;

const drpData = { personInfo: { fullName: 'Amara Perera', permanentAddress: '12 Lake Rd, Kandy' } };
const rgdData = { personInfo: { fullName: 'Amara Perera', district: 'Kandy' } };
const dmtData = {
  personInfo: [
    { registrationNumber: 'CAB-1234', make: 'Toyota', classes: [{ classCode: 'B1' }, { classCode: 'A' }] },
    { registrationNumber: 'WP-7', make: 'Honda', classes: [] },
  ],
};

describe('merging provider answers into the unified shape', () => {
  it('merges three providers, nested objects and lists element by element', () => {
    const result = mergeResults(plan(PASSPORT), {
      outcomes: {
        drp: { ok: true, data: drpData },
        rgd: { ok: true, data: rgdData },
        dmt: { ok: true, data: dmtData },
      },
    });
    expect(result.errors).toEqual([]);
    expect(result.data).toEqual({
      personInfo: {
        __typename: 'PersonInfo',
        fullName: 'Amara Perera',
        name: 'Amara Perera',
        address: '12 Lake Rd, Kandy',
        birthInfo: { district: 'Kandy' },
        ownedVehicles: [
          { regNo: 'CAB-1234', make: 'Toyota', class: [{ classCode: 'B1' }, { classCode: 'A' }] },
          { regNo: 'WP-7', make: 'Honda', class: [] },
        ],
      },
    });
  });

  it('an unknown citizen (every provider answers null) is personInfo null without errors', () => {
    const result = mergeResults(plan('query($nic: ID!) { personInfo(nic: $nic) { fullName name } }'), {
      outcomes: {
        drp: { ok: true, data: { personInfo: null } },
        rgd: { ok: true, data: { personInfo: null } },
      },
    });
    expect(result).toEqual({ data: { personInfo: null }, errors: [] });
  });

  it('a provider that is down nulls its fields with PROVIDER_UNAVAILABLE on each path, other fields are returned', () => {
    const result = mergeResults(plan(PASSPORT), {
      outcomes: {
        drp: { ok: true, data: drpData },
        rgd: { ok: false, code: 'PROVIDER_UNAVAILABLE', message: 'rgd did not answer within 3000 ms' },
        dmt: { ok: false, code: 'PROVIDER_UNAVAILABLE', message: 'circuit open' },
      },
    });
    const person = result.data['personInfo'] as Record<string, unknown>;
    expect(person['fullName']).toBe('Amara Perera');
    expect(person['name']).toBeNull();
    expect(person['ownedVehicles']).toBeNull();
    expect(result.errors.map((e) => [e.path, e.extensions.code, e.extensions['providerKey']])).toEqual([
      [['personInfo', 'name'], 'PROVIDER_UNAVAILABLE', 'rgd'],
      [['personInfo', 'birthInfo', 'district'], 'PROVIDER_UNAVAILABLE', 'rgd'],
      [['personInfo', 'ownedVehicles'], 'PROVIDER_UNAVAILABLE', 'dmt'],
    ]);
  });

  it('withheld fields are null with one error per path carrying the reason and its extensions', () => {
    const consent = { consentId: 'c-1', consentPortalUrl: 'http://127.0.0.1:8081/consent/c-1' };
    const withheld = (leaf: PlannedLeaf) =>
      leaf.providerKey === 'rgd'
        ? { code: 'CONSENT_REQUIRED', message: 'consent required', extensions: consent }
        : leaf.providerField === 'person.permanentAddress'
          ? { code: 'FORBIDDEN', message: 'not permitted' }
          : undefined;
    const result = mergeResults(plan(PASSPORT), {
      outcomes: {
        drp: { ok: true, data: { personInfo: { fullName: 'Amara Perera' } } },
        dmt: { ok: true, data: dmtData },
      },
      withheld,
    });
    const person = result.data['personInfo'] as Record<string, unknown>;
    expect(person['fullName']).toBe('Amara Perera');
    expect(person['address']).toBeNull();
    expect(result.errors).toEqual([
      {
        message: 'consent required',
        path: ['personInfo', 'name'],
        extensions: { code: 'CONSENT_REQUIRED', ...consent },
      },
      { message: 'not permitted', path: ['personInfo', 'address'], extensions: { code: 'FORBIDDEN' } },
      {
        message: 'consent required',
        path: ['personInfo', 'birthInfo', 'district'],
        extensions: { code: 'CONSENT_REQUIRED', ...consent },
      },
    ]);
  });

  it('a withheld leaf inside a list is null in every element, with an error per element', () => {
    const result = mergeResults(plan(PASSPORT), {
      outcomes: {
        drp: { ok: true, data: drpData },
        rgd: { ok: true, data: rgdData },
        dmt: { ok: true, data: dmtData },
      },
      withheld: (leaf) =>
        leaf.providerField === 'vehiclesByOwner.make' ? { code: 'FORBIDDEN', message: 'no' } : undefined,
    });
    const vehicles = (result.data['personInfo'] as { ownedVehicles: { regNo: string; make: unknown }[] })
      .ownedVehicles;
    expect(vehicles.map((v) => [v.regNo, v.make])).toEqual([
      ['CAB-1234', null],
      ['WP-7', null],
    ]);
    expect(result.errors.map((e) => e.path)).toEqual([
      ['personInfo', 'ownedVehicles', 0, 'make'],
      ['personInfo', 'ownedVehicles', 1, 'make'],
    ]);
  });

  it('a list whose every field is withheld is null with one error on the list', () => {
    const result = mergeResults(plan(PASSPORT), {
      outcomes: { drp: { ok: true, data: drpData }, rgd: { ok: true, data: rgdData } },
      withheld: (leaf) => (leaf.providerKey === 'dmt' ? { code: 'FORBIDDEN', message: 'no' } : undefined),
    });
    expect((result.data['personInfo'] as Record<string, unknown>)['ownedVehicles']).toBeNull();
    expect(result.errors).toEqual([
      { message: 'no', path: ['personInfo', 'ownedVehicles'], extensions: { code: 'FORBIDDEN' } },
    ]);
  });

  it('provider errors are passed on with their paths mapped to unified paths', () => {
    const result = mergeResults(plan(PASSPORT), {
      outcomes: {
        drp: { ok: true, data: drpData },
        rgd: {
          ok: true,
          data: { personInfo: null },
          errors: [
            { message: 'nic is malformed', path: ['personInfo'], extensions: { code: 'BAD_USER_INPUT' } },
          ],
        },
        dmt: {
          ok: true,
          data: { personInfo: [{ registrationNumber: 'X', make: null, classes: [] }] },
          errors: [
            { message: 'SOAP fault', path: ['personInfo', 0, 'make'], extensions: { code: 'INTERNAL' } },
          ],
        },
      },
    });
    expect(result.errors).toEqual([
      {
        message: 'nic is malformed',
        path: ['personInfo'],
        extensions: { code: 'BAD_USER_INPUT', providerKey: 'rgd' },
      },
      {
        message: 'SOAP fault',
        path: ['personInfo', 'ownedVehicles', 0, 'make'],
        extensions: { code: 'PROVIDER_ERROR', providerKey: 'dmt' },
      },
    ]);
    const person = result.data['personInfo'] as Record<string, unknown>;
    expect(person['name']).toBeNull();
    expect(person['birthInfo']).toBeNull();
  });

  it('a DMT root error maps to ownedVehicles, the unified field it feeds', () => {
    const p = plan(PASSPORT);
    expect(unifiedPathOf(p, 'dmt', ['personInfo'])).toEqual(['personInfo', 'ownedVehicles']);
    expect(unifiedPathOf(p, 'dmt', ['personInfo', 1, 'classes', 0])).toEqual([
      'personInfo',
      'ownedVehicles',
      1,
      'class',
      0,
    ]);
    expect(unifiedPathOf(p, 'rgd', ['personInfo', 'district'])).toEqual([
      'personInfo',
      'birthInfo',
      'district',
    ]);
    expect(unifiedPathOf(p, 'rgd', ['elsewhere'])).toBeUndefined();
  });

  it('aliased roots merge separately', () => {
    const p = plan('{ a: personInfo(nic: "123456789V") { name } b: personInfo(nic: "987654321X") { name } }');
    const result = mergeResults(p, {
      outcomes: { rgd: { ok: true, data: { a: { fullName: 'A' }, b: null } } },
    });
    expect(result).toEqual({ data: { a: { name: 'A' }, b: null }, errors: [] });
  });

  it('a list with only __typename has one entry per provider element', () => {
    const p = plan('query($nic: ID!) { personInfo(nic: $nic) { ownedVehicles { __typename } } }');
    const result = mergeResults(p, { outcomes: { dmt: { ok: true, data: dmtData } } });
    expect(result.data).toEqual({
      personInfo: { ownedVehicles: [{ __typename: 'VehicleInfo' }, { __typename: 'VehicleInfo' }] },
    });
  });

  it('a provider without an outcome is masked as an internal error', () => {
    const result = mergeResults(plan('query($nic: ID!) { personInfo(nic: $nic) { name } }'), {
      outcomes: {},
    });
    expect(result.errors).toEqual([
      {
        message: 'internal error',
        path: ['personInfo', 'name'],
        extensions: { code: 'INTERNAL_SERVER_ERROR' },
      },
    ]);
  });

  it('a provider answering an object where a list belongs is PROVIDER_ERROR on the list', () => {
    const p = plan('query($nic: ID!) { personInfo(nic: $nic) { ownedVehicles { make } } }');
    const result = mergeResults(p, { outcomes: { dmt: { ok: true, data: { personInfo: { make: 'x' } } } } });
    expect(result.data).toEqual({ personInfo: { ownedVehicles: null } });
    expect(result.errors.map((e) => [e.path, e.extensions.code])).toEqual([
      [['personInfo', 'ownedVehicles'], 'PROVIDER_ERROR'],
    ]);
  });
});

describe('sub-queries for the released fields only', () => {
  it('drops withheld leaves and keeps the variables of the remaining roots', () => {
    const p = plan(PASSPORT);
    const dmt = buildSubQuery(p, 'dmt', (leaf) => leaf.providerField !== 'vehiclesByOwner.make');
    expect(stripIgnoredCharacters(dmt!.query)).toBe(
      'query ndx_dmt($personInfo_ownerNic:ID!){personInfo:vehiclesByOwner(ownerNic:$personInfo_ownerNic){registrationNumber classes{classCode}}}',
    );
    expect(dmt!.variables).toEqual({ personInfo_ownerNic: NIC });
  });

  it('is undefined when nothing of the provider is released', () => {
    expect(buildSubQuery(plan(PASSPORT), 'rgd', () => false)).toBeUndefined();
    expect(buildSubQuery(plan(PASSPORT), 'nowhere')).toBeUndefined();
  });

  it('drops a whole aliased root and its variable', () => {
    const p = plan('{ a: personInfo(nic: "123456789V") { name } b: personInfo(nic: "987654321X") { sex } }');
    const rgd = buildSubQuery(p, 'rgd', (leaf) => leaf.providerField !== 'getPersonInfo.fullName');
    expect(stripIgnoredCharacters(rgd!.query)).toBe(
      'query ndx_rgd($b_nic:ID!){b:getPersonInfo(nic:$b_nic){sex}}',
    );
    expect(rgd!.variables).toEqual({ b_nic: '987654321X' });
  });
});

describe('the plan cache', () => {
  it('reuses a plan for the same operation text with new variable values', () => {
    const planner = createQueryPlanner({ schema, argMappings });
    const source = 'query($nic: ID!) { personInfo(nic: $nic) { name } }';
    const first = planner.plan({ document: parse(source), source, variables: { nic: '123456789V' } });
    const second = planner.plan({ document: parse(source), source, variables: { nic: '987654321X' } });
    expect(planner.cachedPlans()).toBe(1);
    expect(first.providers[0]!.variableValues).toEqual({ personInfo_nic: '123456789V' });
    expect(second.providers[0]!.variableValues).toEqual({ personInfo_nic: '987654321X' });
    expect(second.rootFields).toEqual([
      { responseKey: 'personInfo', fieldName: 'personInfo', arguments: { nic: '987654321X' } },
    ]);
  });

  it('keeps @skip/@include variants apart', () => {
    const planner = createQueryPlanner({ schema, argMappings });
    const source = 'query($nic: ID!, $s: Boolean!) { personInfo(nic: $nic) { name sex @skip(if: $s) } }';
    const skipped = planner.plan({ document: parse(source), source, variables: { nic: NIC, s: true } });
    const kept = planner.plan({ document: parse(source), source, variables: { nic: NIC, s: false } });
    expect(skipped.leaves.map((l) => l.providerField)).toEqual(['getPersonInfo.fullName']);
    expect(kept.leaves.map((l) => l.providerField)).toEqual(['getPersonInfo.fullName', 'getPersonInfo.sex']);
    expect(planner.cachedPlans()).toBe(2);
  });

  it('is bounded, dropping the least recently used plan', () => {
    const planner = createQueryPlanner({ schema, argMappings, cacheSize: 2 });
    for (const field of ['name', 'sex', 'dateOfBirth']) {
      const source = `{ personInfo(nic: "123456789V") { ${field} } }`;
      planner.plan({ document: parse(source), source });
    }
    expect(planner.cachedPlans()).toBe(2);
  });
});
