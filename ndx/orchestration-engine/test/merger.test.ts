import { describe, expect, it } from 'vitest';
import { parse } from 'graphql';
import { loadFlConfig } from '../src/fl-config.ts';
import { mergeResults, newLeafDelivery, type Withholding } from '../src/merger.ts';
import { planQuery } from '../src/planner.ts';
import type { PlannedLeaf, QueryPlan } from '../src/query-plan.ts';
import { loadUnifiedSchema } from '../src/schema.ts';

const { schema } = loadUnifiedSchema();
const { argMappings } = loadFlConfig(undefined, { env: {} });

function plan(query: string): QueryPlan {
  return planQuery(schema, argMappings, { document: parse(query), variables: { nic: '199012345678' } });
}

const consent = { consentId: 'c-9', consentPortalUrl: 'http://127.0.0.1:8081/consent/c-9' };
const withholdBy =
  (rules: Record<string, Withholding>) =>
  (leaf: PlannedLeaf): Withholding | undefined =>
    rules[leaf.providerField];

describe('the merger releases what was released and withholds the rest', () => {
  it('puts released fields under their aliases and withheld ones to null with the error on the aliased path', () => {
    const p = plan(`query($nic: ID!) { citizen: personInfo(nic: $nic) {
      n: fullName addr: address cars: ownedVehicles { plate: regNo m: make } } }`);
    const result = mergeResults(p, {
      outcomes: {
        drp: { ok: true, data: { citizen: { fullName: 'Amara Perera' } } },
        dmt: {
          ok: true,
          data: { citizen: [{ registrationNumber: 'CAB-1234' }, { registrationNumber: 'WP-7' }] },
        },
      },
      withheld: withholdBy({
        'person.permanentAddress': { code: 'FORBIDDEN', message: 'not permitted' },
        'vehiclesByOwner.make': {
          code: 'CONSENT_REQUIRED',
          message: 'consent required',
          extensions: consent,
        },
      }),
    });
    expect(result.data).toEqual({
      citizen: {
        n: 'Amara Perera',
        addr: null,
        cars: [
          { plate: 'CAB-1234', m: null },
          { plate: 'WP-7', m: null },
        ],
      },
    });
    expect(result.errors).toEqual([
      { message: 'not permitted', path: ['citizen', 'addr'], extensions: { code: 'FORBIDDEN' } },
      {
        message: 'consent required',
        path: ['citizen', 'cars', 0, 'm'],
        extensions: { code: 'CONSENT_REQUIRED', ...consent },
      },
      {
        message: 'consent required',
        path: ['citizen', 'cars', 1, 'm'],
        extensions: { code: 'CONSENT_REQUIRED', ...consent },
      },
    ]);
  });

  it('gives one provider field selected under two aliases to both', () => {
    const p = plan('query($nic: ID!) { personInfo(nic: $nic) { a: fullName b: fullName } }');
    const result = mergeResults(p, {
      outcomes: { drp: { ok: true, data: { personInfo: { fullName: 'Amara Perera' } } } },
    });
    expect(result).toEqual({ data: { personInfo: { a: 'Amara Perera', b: 'Amara Perera' } }, errors: [] });
  });

  it('reports a withheld field by its withholding even when its provider also failed', () => {
    const p = plan('query($nic: ID!) { personInfo(nic: $nic) { name sex } }');
    const result = mergeResults(p, {
      outcomes: { rgd: { ok: false, code: 'PROVIDER_UNAVAILABLE', message: 'rgd is down' } },
      withheld: withholdBy({ 'getPersonInfo.fullName': { code: 'FORBIDDEN', message: 'not permitted' } }),
    });
    expect(result.data).toEqual({ personInfo: { name: null, sex: null } });
    expect(result.errors.map((e) => [e.path, e.extensions.code])).toEqual([
      [['personInfo', 'name'], 'FORBIDDEN'],
      [['personInfo', 'sex'], 'PROVIDER_UNAVAILABLE'],
    ]);
  });
});

describe('the merger folds lists element by element', () => {
  const VEHICLES =
    'query($nic: ID!) { personInfo(nic: $nic) { ownedVehicles { regNo class { classCode } } } }';

  it('merges a list inside a list; an empty provider list is [] and a null one is null, without errors', () => {
    const result = mergeResults(plan(VEHICLES), {
      outcomes: {
        dmt: {
          ok: true,
          data: {
            personInfo: [
              { registrationNumber: 'A-1', classes: [{ classCode: 'B1' }, { classCode: 'A' }] },
              { registrationNumber: 'B-2', classes: [] },
              { registrationNumber: 'C-3', classes: null },
            ],
          },
        },
      },
    });
    expect(result).toEqual({
      data: {
        personInfo: {
          ownedVehicles: [
            { regNo: 'A-1', class: [{ classCode: 'B1' }, { classCode: 'A' }] },
            { regNo: 'B-2', class: [] },
            { regNo: 'C-3', class: null },
          ],
        },
      },
      errors: [],
    });
  });

  it('answers a citizen without vehicles with an empty list', () => {
    const result = mergeResults(plan(VEHICLES), {
      outcomes: { dmt: { ok: true, data: { personInfo: [] } } },
    });
    expect(result).toEqual({ data: { personInfo: { ownedVehicles: [] } }, errors: [] });
  });
});

describe('the merger passes on a provider’s partial answer', () => {
  const PASSPORT = 'query($nic: ID!) { personInfo(nic: $nic) { fullName ownedVehicles { regNo make } } }';
  const drp = { ok: true as const, data: { personInfo: { fullName: 'Amara Perera' } } };

  it('returns what the provider answered, nulls the failed element field with PROVIDER_ERROR on its unified path, and leaves other providers untouched', () => {
    const result = mergeResults(plan(PASSPORT), {
      outcomes: {
        drp,
        dmt: {
          ok: true,
          data: {
            personInfo: [
              { registrationNumber: 'A-1', make: 'Toyota' },
              { registrationNumber: 'B-2', make: null },
            ],
          },
          errors: [
            { message: 'SOAP fault', path: ['personInfo', 1, 'make'], extensions: { code: 'INTERNAL' } },
          ],
        },
      },
    });
    expect(result.data).toEqual({
      personInfo: {
        fullName: 'Amara Perera',
        ownedVehicles: [
          { regNo: 'A-1', make: 'Toyota' },
          { regNo: 'B-2', make: null },
        ],
      },
    });
    expect(result.errors).toEqual([
      {
        message: 'SOAP fault',
        path: ['personInfo', 'ownedVehicles', 1, 'make'],
        extensions: { code: 'PROVIDER_ERROR', providerKey: 'dmt' },
      },
    ]);
  });

  it('gives a list the provider failed on its own error only, with no second error for the missing list', () => {
    const result = mergeResults(plan(PASSPORT), {
      outcomes: {
        drp,
        dmt: {
          ok: true,
          data: { personInfo: null },
          errors: [{ message: 'registry offline', path: ['personInfo'] }],
        },
      },
    });
    expect(result.data).toEqual({ personInfo: { fullName: 'Amara Perera', ownedVehicles: null } });
    expect(result.errors).toEqual([
      {
        message: 'registry offline',
        path: ['personInfo', 'ownedVehicles'],
        extensions: { code: 'PROVIDER_ERROR', providerKey: 'dmt' },
      },
    ]);
  });

  it('puts a provider error without a path on what that provider supplies (nulling it), and one naming nothing of the plan on no path', () => {
    const result = mergeResults(plan(PASSPORT), {
      outcomes: {
        drp: { ...drp, errors: [{ message: 'deprecated field used' }, { message: 'odd', path: ['other'] }] },
        dmt: { ok: true, data: { personInfo: [] } },
      },
    });
    expect(result.data).toEqual({ personInfo: { fullName: null, ownedVehicles: [] } });
    expect(result.errors).toEqual([
      {
        message: 'deprecated field used',
        path: ['personInfo', 'fullName'],
        extensions: { code: 'PROVIDER_ERROR', providerKey: 'drp' },
      },
      { message: 'odd', extensions: { code: 'PROVIDER_ERROR', providerKey: 'drp' } },
    ]);
  });
});

describe('the merger reports what the answer holds for each released field', () => {
  const QUERY =
    'query($nic: ID!) { personInfo(nic: $nic) { fullName address ownedVehicles { regNo make } } }';
  const leafId = (p: QueryPlan, providerField: string) =>
    p.leaves.find((l) => l.providerField === providerField)!.id;

  it('nulls a field the provider reported an error on in an HTTP 200 answer, even when it sent a value, and reports it failed', () => {
    const p = plan(QUERY);
    const delivery = newLeafDelivery();
    const result = mergeResults(p, {
      outcomes: {
        drp: {
          ok: true,
          data: { personInfo: { fullName: 'Amara Perera', permanentAddress: '12 Lake Road' } },
          errors: [{ message: 'address register offline', path: ['personInfo', 'permanentAddress'] }],
        },
        dmt: { ok: true, data: { personInfo: [{ registrationNumber: 'A-1', make: 'Toyota' }] } },
      },
      delivery,
    });
    expect(result.data).toEqual({
      personInfo: {
        fullName: 'Amara Perera',
        address: null,
        ownedVehicles: [{ regNo: 'A-1', make: 'Toyota' }],
      },
    });
    expect(result.errors).toEqual([
      {
        message: 'address register offline',
        path: ['personInfo', 'address'],
        extensions: { code: 'PROVIDER_ERROR', providerKey: 'drp' },
      },
    ]);
    expect(delivery.failed).toEqual(new Map([[leafId(p, 'person.permanentAddress'), 'PROVIDER_ERROR']]));
    expect([...delivery.delivered].sort()).toEqual(
      [
        leafId(p, 'person.fullName'),
        leafId(p, 'vehiclesByOwner.registrationNumber'),
        leafId(p, 'vehiclesByOwner.make'),
      ].sort(),
    );
  });

  it('reports a field failed in one list element and delivered in another as both', () => {
    const p = plan(QUERY);
    const delivery = newLeafDelivery();
    mergeResults(p, {
      outcomes: {
        drp: { ok: true, data: { personInfo: { fullName: 'Amara Perera', permanentAddress: 'x' } } },
        dmt: {
          ok: true,
          data: {
            personInfo: [
              { registrationNumber: 'A-1', make: 'Toyota' },
              { registrationNumber: 'B-2', make: null },
            ],
          },
          errors: [{ message: 'SOAP fault', path: ['personInfo', 1, 'make'] }],
        },
      },
      delivery,
    });
    const make = leafId(p, 'vehiclesByOwner.make');
    expect(delivery.failed.get(make)).toBe('PROVIDER_ERROR');
    expect(delivery.delivered.has(make)).toBe(true);
  });

  it('reports every field of a failed provider, inside a list too, as failed with its reason', () => {
    const p = plan(QUERY);
    const delivery = newLeafDelivery();
    mergeResults(p, {
      outcomes: {
        drp: { ok: false, code: 'PROVIDER_UNAVAILABLE', message: 'drp is down' },
        dmt: { ok: false, code: 'PROVIDER_ERROR', message: 'dmt answered 500' },
      },
      delivery,
    });
    expect(delivery.failed).toEqual(
      new Map([
        [leafId(p, 'person.fullName'), 'PROVIDER_UNAVAILABLE'],
        [leafId(p, 'person.permanentAddress'), 'PROVIDER_UNAVAILABLE'],
        [leafId(p, 'vehiclesByOwner.registrationNumber'), 'PROVIDER_ERROR'],
        [leafId(p, 'vehiclesByOwner.make'), 'PROVIDER_ERROR'],
      ]),
    );
    expect(delivery.delivered.size).toBe(0);
  });

  it('reports every field of a list the provider reported an error on as PROVIDER_ERROR', () => {
    const p = plan(QUERY);
    const delivery = newLeafDelivery();
    mergeResults(p, {
      outcomes: {
        drp: { ok: true, data: { personInfo: { fullName: 'Amara Perera', permanentAddress: 'x' } } },
        dmt: {
          ok: true,
          data: { personInfo: null },
          errors: [{ message: 'registry offline', path: ['personInfo'] }],
        },
      },
      delivery,
    });
    expect(delivery.failed).toEqual(
      new Map([
        [leafId(p, 'vehiclesByOwner.registrationNumber'), 'PROVIDER_ERROR'],
        [leafId(p, 'vehiclesByOwner.make'), 'PROVIDER_ERROR'],
      ]),
    );
    expect([...delivery.delivered].sort()).toEqual(
      [leafId(p, 'person.fullName'), leafId(p, 'person.permanentAddress')].sort(),
    );
  });

  it('reports a withheld field neither delivered nor failed, also inside a list whose provider failed', () => {
    const p = plan(QUERY);
    const delivery = newLeafDelivery();
    mergeResults(p, {
      outcomes: {
        drp: { ok: false, code: 'PROVIDER_ERROR', message: 'drp answered 500' },
        dmt: { ok: false, code: 'PROVIDER_UNAVAILABLE', message: 'dmt is down' },
      },
      withheld: withholdBy({
        'person.fullName': { code: 'FORBIDDEN', message: 'not permitted' },
        'vehiclesByOwner.make': { code: 'CONSENT_REQUIRED', message: 'consent required' },
      }),
      delivery,
    });
    expect(delivery.failed).toEqual(
      new Map([
        [leafId(p, 'person.permanentAddress'), 'PROVIDER_ERROR'],
        [leafId(p, 'vehiclesByOwner.registrationNumber'), 'PROVIDER_UNAVAILABLE'],
      ]),
    );
    expect(delivery.delivered.size).toBe(0);
  });
});
