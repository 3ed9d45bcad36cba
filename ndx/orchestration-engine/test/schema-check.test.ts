import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '@ndx/service-kit';
import { loadFlConfig, parseFlConfig, resolveProviderSecrets } from '../src/fl-config.ts';
import { buildUnifiedSchema, defaultUnifiedSchemaPath } from '../src/schema.ts';
import {
  assertSchemaMatchesProviders,
  checkSchema,
  loadProviderSchemas,
  type ProviderSdl,
} from '../src/schema-check.ts';

const unifiedSdl = readFileSync(defaultUnifiedSchemaPath, 'utf8');
const config = loadFlConfig(undefined, { env: {} });
const pinned = new Map(
  config.providers.map((p): [string, ProviderSdl] => [
    p.providerKey,
    { sdl: readFileSync(p.schemaFile!, 'utf8'), origin: p.schemaFile! },
  ]),
);

function check(unified = unifiedSdl, sdls = pinned, flConfig = config): string[] {
  return checkSchema(buildUnifiedSchema(unified), flConfig, sdls);
}
function withProvider(key: string, edit: (sdl: string) => string): Map<string, ProviderSdl> {
  const copy = new Map(pinned);
  copy.set(key, { sdl: edit(pinned.get(key)!.sdl), origin: 'test' });
  return copy;
}
function replaceOnce(text: string, from: string, to: string): string {
  expect(text).toContain(from);
  return text.replace(from, to);
}

describe('the start-up schema check', () => {
  it('passes for ndx/schema.graphql, fl-config.json and the pinned provider schemas', () => {
    expect(check()).toEqual([]);
    expect(() => assertSchemaMatchesProviders(buildUnifiedSchema(unifiedSdl), config, pinned)).not.toThrow();
  });

  it('names the field whose @sourceInfo points at an unknown provider', () => {
    const broken = replaceOnce(
      unifiedSdl,
      'providerKey: "drp", schemaId: "drp-schema-v1", providerField: "person.profession"',
      'providerKey: "xyz", schemaId: "drp-schema-v1", providerField: "person.profession"',
    );
    const problems = check(broken);
    expect(problems).toContainEqual(
      expect.stringMatching(
        /^PersonInfo\.profession @sourceInfo.*"xyz" is not a provider in fl-config\.json/,
      ),
    );
  });

  it('names the field whose schemaId does not match fl-config', () => {
    const broken = replaceOnce(
      unifiedSdl,
      'schemaId: "abc-212", providerField: "getPersonInfo.sex"',
      'schemaId: "abc-999", providerField: "getPersonInfo.sex"',
    );
    expect(check(broken)).toEqual([
      expect.stringMatching(
        /^PersonInfo\.sex .*schemaId "abc-999" does not match fl-config\.json's "abc-212" for rgd/,
      ),
    ]);
  });

  it('names the field the provider schema does not have', () => {
    const sdls = withProvider('drp', (sdl) => replaceOnce(sdl, '  profession: String\n', ''));
    expect(check(unifiedSdl, sdls)).toEqual([
      expect.stringMatching(
        /^PersonInfo\.profession .*provider drp has no field person\.profession \(type Person has no field "profession"\)/,
      ),
    ]);
  });

  it('names the field when a provider root field (type) is missing', () => {
    const sdls = withProvider('rgd', (sdl) =>
      replaceOnce(sdl, 'getPersonInfo(nic: ID!): PersonData', 'getPerson(nic: ID!): PersonData'),
    );
    const problems = check(unifiedSdl, sdls);
    expect(problems).toContainEqual(
      expect.stringMatching(
        /^PersonInfo\.name .*provider rgd has no field getPersonInfo \(type Query has no field "getPersonInfo"\)/,
      ),
    );
    expect(problems).toContainEqual(
      expect.stringMatching(/argMappings\[0\].*provider rgd has no Query\.getPersonInfo/),
    );
  });

  it('names the field when a path goes through a scalar', () => {
    const broken = replaceOnce(
      unifiedSdl,
      'providerField: "person.otherNames"',
      'providerField: "person.fullName.first"',
    );
    expect(check(broken)).toContainEqual(
      expect.stringMatching(/^PersonInfo\.otherNames .*person\.fullName is a String!, not an object/),
    );
  });

  it('names a scalar field mapped to a provider object', () => {
    const broken = replaceOnce(
      unifiedSdl,
      'providerField: "vehicle.make"',
      'providerField: "vehicle.classes"',
    );
    expect(check(broken)).toContainEqual(
      expect.stringMatching(/^VehicleInfo\.make .*type does not fit: unified String is not a list/),
    );
  });

  it('names a scalar type that cannot hold the provider value', () => {
    const broken = replaceOnce(unifiedSdl, '  year: Int\n', '  year: Boolean\n');
    expect(check(broken)).toContainEqual(
      expect.stringMatching(/^VehicleInfo\.year .*unified Boolean cannot hold provider Int!/),
    );
  });

  it('names a list field mapped to a provider field that is not a list', () => {
    const sdls = withProvider('dmt', (sdl) =>
      replaceOnce(sdl, 'classes: [VehicleClass!]!', 'classes: VehicleClass!'),
    );
    const problems = check(unifiedSdl, sdls);
    expect(problems).toContainEqual(
      expect.stringMatching(
        /^VehicleInfo\.class .*unified \[VehicleClassInfo!\] is a list, provider VehicleClass! is not a list/,
      ),
    );
  });

  it('names a leaf that reads through a provider list without a unified list', () => {
    const broken = replaceOnce(
      unifiedSdl,
      '  "Details of the birth registration (RGD)."',
      '  "First car."\n  firstCarMake: String @sourceInfo(providerKey: "dmt", schemaId: "dmt-schema-v1", providerField: "vehiclesByOwner.make")\n  "Details of the birth registration (RGD)."',
    );
    expect(check(broken)).toEqual([
      expect.stringMatching(
        /^PersonInfo\.firstCarMake \(reached as personInfo\.firstCarMake\): provider field dmt vehiclesByOwner is a list/,
      ),
    ]);
  });

  it('names a leaf without any @sourceInfo', () => {
    const broken = replaceOnce(
      unifiedSdl,
      '  "Details of the birth registration (RGD)."',
      '  "Height."\n  height: Int\n  "Details of the birth registration (RGD)."',
    );
    expect(check(broken)).toEqual([
      expect.stringMatching(/^PersonInfo\.height \(reached as personInfo\.height\): no @sourceInfo under/),
    ]);
  });

  it('names an argMapping to a provider argument that does not exist', () => {
    const broken = parseFlConfig(
      { ...JSON.parse(readFileSync(resolve(import.meta.dirname, '../../../fl-config.json'), 'utf8')) },
      { env: {} },
    );
    broken.argMappings[2] = { ...broken.argMappings[2]!, providerArgument: 'owner' };
    const problems = check(unifiedSdl, pinned, broken);
    expect(problems).toContainEqual(
      expect.stringMatching(/argMappings\[2\].*Query\.vehiclesByOwner has no argument "owner"/),
    );
    expect(problems).toContainEqual(
      expect.stringMatching(/needs argument "ownerNic", which no argMapping supplies/),
    );
  });

  it('throws a ConfigError listing the problems for start-up', () => {
    const sdls = withProvider('drp', (sdl) => replaceOnce(sdl, '  profession: String\n', ''));
    expect(() => assertSchemaMatchesProviders(buildUnifiedSchema(unifiedSdl), config, sdls)).toThrow(
      /does not match the providers:\n {2}PersonInfo\.profession/,
    );
  });
});

describe('loading provider schemas', () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === '/graphql/schema.graphql') {
        res.writeHead(200, { 'content-type': 'text/plain' }).end(pinned.get('drp')!.sdl);
      } else res.writeHead(404).end();
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(() => new Promise<void>((done) => server.close(() => done())));

  it('fetches a live SDL from ${url}/graphql/schema.graphql', async () => {
    const live = loadFlConfig(undefined, { env: { PROVIDER_URL_DRP: base } });
    const drpOnly = { ...live, providers: live.providers.filter((p) => p.providerKey === 'drp') };
    const sdls = await loadProviderSchemas(drpOnly, { prefer: 'live' });
    expect(sdls.get('drp')).toEqual({
      sdl: pinned.get('drp')!.sdl,
      origin: `${base}/graphql/schema.graphql`,
    });
  });

  it('names the provider it cannot fetch', async () => {
    const live = loadFlConfig(undefined, { env: { PROVIDER_URL_RGD: `${base}/nothing-here` } });
    const rgdOnly = { ...live, providers: live.providers.filter((p) => p.providerKey === 'rgd') };
    await expect(loadProviderSchemas(rgdOnly, { prefer: 'live' })).rejects.toThrow(
      /provider rgd: .* answered HTTP 404/,
    );
  });

  it('reads the pinned files named in fl-config', async () => {
    const sdls = await loadProviderSchemas(config, { prefer: 'pinned' });
    expect([...sdls.keys()]).toEqual(['rgd', 'drp', 'dmt']);
    expect(sdls.get('dmt')!.sdl).toContain('vehiclesByOwner(ownerNic: ID!): [Vehicle!]!');
  });
});

describe('the check-schema CLI', () => {
  const cli = resolve(import.meta.dirname, '../src/check-schema-cli.ts');
  it('exits 0 for the repository schema', () => {
    const run = spawnSync(process.execPath, [cli], { encoding: 'utf8', env: { ...process.env } });
    expect(run.stdout).toMatch(/schema check passed/);
    expect(run.status).toBe(0);
  });
  it('exits 1 naming the field for a broken schema', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ndx-schema-'));
    const file = join(dir, 'schema.graphql');
    writeFileSync(
      file,
      unifiedSdl.replace('providerField: "person.permanentAddress"', 'providerField: "person.address"'),
    );
    const run = spawnSync(process.execPath, [cli, '--schema', file], { encoding: 'utf8' });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/PersonInfo\.address .*provider drp has no field person\.address/);
  });
});

describe('fl-config.json', () => {
  const raw = () => JSON.parse(readFileSync(resolve(import.meta.dirname, '../../../fl-config.json'), 'utf8'));

  it('parses into typed providers with URLs, auth and timeouts', () => {
    const rgd = config.providers.find((p) => p.providerKey === 'rgd')!;
    expect(rgd).toMatchObject({
      schemaId: 'abc-212',
      graphqlUrl: 'http://127.0.0.1:8080/graphql',
      sdlUrl: 'http://127.0.0.1:8080/graphql/schema.graphql',
      timeoutMs: 3000,
      auth: {
        type: 'oauth2-client-credentials',
        clientId: 'ndx',
        secretEnv: 'RGD_CLIENT_SECRET',
        tokenUrl: 'http://127.0.0.1:8080/oauth2/token',
      },
    });
    expect(config.argMappings).toContainEqual({
      unifiedField: 'personInfo',
      unifiedArgument: 'nic',
      providerKey: 'dmt',
      providerField: 'vehiclesByOwner',
      providerArgument: 'ownerNic',
    });
  });

  it('takes provider and service URLs from the environment', () => {
    const moved = parseFlConfig(raw(), {
      env: { PROVIDER_URL_RGD: 'http://127.0.0.1:41234/', PDP_URL: 'http://127.0.0.1:5555' },
    });
    const rgd = moved.providers.find((p) => p.providerKey === 'rgd')!;
    expect(rgd.graphqlUrl).toBe('http://127.0.0.1:41234/graphql');
    expect(rgd.auth.type === 'oauth2-client-credentials' && rgd.auth.tokenUrl).toBe(
      'http://127.0.0.1:41234/oauth2/token',
    );
    expect(moved.services.policyDecisionPoint).toBe('http://127.0.0.1:5555');
  });

  it('refuses a literal secret, naming the key', () => {
    const bad = raw();
    bad.providers[1].auth.apiKey = 'literal-secret';
    expect(() => parseFlConfig(bad, { env: {} })).toThrow(ConfigError);
    expect(() => parseFlConfig(bad, { env: {} })).toThrow(/providers\[1\]\.auth: .*apiKey/);
  });

  it('refuses an argMapping to an unknown provider and a bad URL, naming the keys', () => {
    const bad = raw();
    bad.argMappings[0].providerKey = 'nope';
    bad.providers[0].url = 'not a url';
    expect(() => parseFlConfig(bad, { env: {} })).toThrow(
      /argMappings\[0\]\.providerKey: "nope" is not a provider key[\s\S]*|providers\[0\]\.url/,
    );
    try {
      parseFlConfig(bad, { env: {} });
    } catch (err) {
      expect((err as Error).message).toMatch(/providers\[0\]\.url/);
      expect((err as Error).message).toMatch(/argMappings\[0\]\.providerKey/);
    }
  });

  it('refuses an environment override that is not a URL', () => {
    expect(() => parseFlConfig(raw(), { env: { PROVIDER_URL_DMT: 'nowhere' } })).toThrow(
      /PROVIDER_URL_DMT="nowhere"/,
    );
  });

  it('reads provider secrets from the variables it names, and names the missing ones', () => {
    expect(() => resolveProviderSecrets(config, { RGD_CLIENT_SECRET: 'x'.repeat(20) })).toThrow(
      /DRP_ADAPTER_API_KEY \(provider drp\), OE_CLIENT_SECRET \(provider dmt\)/,
    );
    const secrets = resolveProviderSecrets(config, {
      RGD_CLIENT_SECRET: 'a',
      DRP_ADAPTER_API_KEY: 'b',
      OE_CLIENT_SECRET: 'c',
    });
    expect(Object.fromEntries(secrets)).toEqual({ rgd: 'a', drp: 'b', dmt: 'c' });
  });
});
