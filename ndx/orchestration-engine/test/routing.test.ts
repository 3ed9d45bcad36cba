import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse, type GraphQLObjectType, type GraphQLSchema } from 'graphql';
import { ConfigError } from '@ndx/service-kit';
import { loadFlConfig } from '../src/fl-config.ts';
import { planQuery } from '../src/planner.ts';
import { PlanningError } from '../src/planning-error.ts';
import { checkSchema, type ProviderSdl } from '../src/schema-check.ts';
import { buildUnifiedSchema, defaultUnifiedSchemaPath, objectTypeOf, sourceInfosOf } from '../src/schema.ts';

const unifiedSdl = readFileSync(defaultUnifiedSchemaPath, 'utf8');
const config = loadFlConfig(undefined, { env: {} });
const pinned = new Map(
  config.providers.map((p): [string, ProviderSdl] => [
    p.providerKey,
    { sdl: readFileSync(p.schemaFile!, 'utf8'), origin: p.schemaFile! },
  ]),
);

function replaceOnce(text: string, from: string, to: string): string {
  expect(text).toContain(from);
  return text.replace(from, to);
}

/** A selection of every field under `type`, recursively (the unified schema has no cycles). */
function everyField(type: GraphQLObjectType): string {
  return Object.values(type.getFields())
    .map((field) => {
      const inner = objectTypeOf(field);
      return inner ? `${field.name} { ${everyField(inner)} }` : field.name;
    })
    .join(' ');
}

function plan(schema: GraphQLSchema, query: string) {
  return planQuery(schema, config.argMappings, { document: parse(query) });
}

describe('the unified schema and its @sourceInfo', () => {
  it('reads every @sourceInfo of a field, in declaration order', () => {
    const schema = buildUnifiedSchema(unifiedSdl);
    const vehicle = schema.getType('VehicleInfo') as GraphQLObjectType;
    expect(sourceInfosOf(vehicle.getFields()['make']!)).toEqual([
      {
        providerKey: 'dmt',
        schemaId: 'dmt-schema-v1',
        providerField: 'vehicle.make',
        segments: ['vehicle', 'make'],
      },
      {
        providerKey: 'dmt',
        schemaId: 'dmt-schema-v1',
        providerField: 'vehiclesByOwner.make',
        segments: ['vehiclesByOwner', 'make'],
      },
    ]);
  });

  it('refuses an @sourceInfo argument that is not a string, naming the field', () => {
    const broken = replaceOnce(unifiedSdl, 'providerField: "person.profession"', 'providerField: 42');
    expect(() => buildUnifiedSchema(broken, 'test.graphql')).toThrow(ConfigError);
    expect(() => buildUnifiedSchema(broken, 'test.graphql')).toThrow(
      /^test\.graphql: PersonInfo\.profession @sourceInfo: .*providerField/,
    );
  });

  it('refuses SDL that is not a valid schema, naming its source', () => {
    expect(() => buildUnifiedSchema('type Query { a: Missing }', 'test.graphql')).toThrow(
      /^test\.graphql is not a valid GraphQL schema: Unknown type "Missing"/,
    );
  });
});

describe('the schema check and the planner route fields by the same rules', () => {
  it('plans a query selecting every field of the schema the check accepts', () => {
    const schema = buildUnifiedSchema(unifiedSdl);
    expect(checkSchema(schema, config, pinned)).toEqual([]);
    const query = `{ personInfo(nic: "123456789V") { ${everyField(schema.getType('PersonInfo') as GraphQLObjectType)} }
      vehicle(regNo: "A-1") { ${everyField(schema.getType('VehicleInfo') as GraphQLObjectType)} }
      vehicleClasses { className classCode } }`;
    const providerFields = plan(schema, query).leaves.map((l) => l.providerField);
    expect(providerFields).toContain('vehiclesByOwner.classes.classCode');
    expect(providerFields).toContain('vehicle.classes.classCode');
    expect(providerFields).toContain('vehicleClasses.className');
    expect(providerFields).toContain('getPersonInfo.birthRegistrationNumber');
    // 10 person leaves, 6 under ownedVehicles, 6 under vehicle, 2 under vehicleClasses.
    expect(providerFields).toHaveLength(24);
  });

  it('a leaf whose @sourceInfo is not reachable where it is selected is reported by the check and refused by the planner', () => {
    // VehicleInfo.make keeps its vehiclesByOwner source only: reachable under ownedVehicles, not under vehicle.
    const schema = buildUnifiedSchema(
      replaceOnce(
        unifiedSdl,
        '    @sourceInfo(providerKey: "dmt", schemaId: "dmt-schema-v1", providerField: "vehicle.make")\n',
        '',
      ),
    );
    expect(checkSchema(schema, config, pinned)).toEqual([
      'VehicleInfo.make (reached as vehicle.make): no @sourceInfo under dmt vehicle',
    ]);
    let refused: unknown;
    try {
      plan(schema, '{ vehicle(regNo: "A-1") { make } }');
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(PlanningError);
    expect(refused).toMatchObject({
      code: 'FIELD_NOT_ROUTABLE',
      message: 'VehicleInfo.make (at vehicle.make) has no @sourceInfo reachable from here',
    });
    expect(
      plan(schema, '{ personInfo(nic: "123456789V") { ownedVehicles { make } } }').leaves.map(
        (l) => l.providerField,
      ),
    ).toEqual(['vehiclesByOwner.make']);
  });
});
