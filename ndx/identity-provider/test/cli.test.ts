import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { startTestIdentityProvider, type TestIdentityProvider } from '../testing/index.ts';

const run = promisify(execFile);
const CLI = join(import.meta.dirname, '..', 'src', 'cli.ts');

let fudi: TestIdentityProvider;
let databaseUrl: string;

async function cli(args: string[], env: Record<string, string> = {}) {
  return run(process.execPath, [CLI, ...args], {
    env: { ...process.env, DATABASE_URL: databaseUrl, ...env },
    timeout: 30_000,
  });
}

beforeAll(async () => {
  fudi = await startTestIdentityProvider({ FUDI_KEY_REFRESH_SECONDS: '1' });
  databaseUrl = (fudi.internals.pool.options as { connectionString: string }).connectionString;
});
afterAll(async () => {
  await fudi?.stop();
});

describe('operator CLI', () => {
  it('adds a consumer app whose printed secret works at once against the running FUDI', async () => {
    const { stdout } = await cli([
      'add-client',
      '--id',
      'tax-app',
      '--resource',
      'urn:ndx:api',
      '--name',
      'Tax office',
    ]);
    const secret = /client_secret=(\S+)/.exec(stdout)![1]!;
    const token = await fudi.clientCredentialsToken(
      { clientId: 'tax-app', clientSecret: secret },
      'urn:ndx:api',
    );
    expect(decodeJwt(token)).toMatchObject({ client_id: 'tax-app', aud: 'urn:ndx:api' });
    await expect(cli(['add-client', '--id', 'tax-app', '--resource', 'urn:ndx:api'])).rejects.toMatchObject({
      stderr: expect.stringContaining('already exists'),
    });
  });

  it('creates and resets a citizen account', async () => {
    await cli(['set-citizen', '--nic', '198012345678', '--name', 'Test Person'], {
      FUDI_CITIZEN_PASSWORD: 'first-password',
    });
    expect(await fudi.internals.citizens.checkPassword('198012345678', 'first-password')).toMatchObject({
      name: 'Test Person',
    });
    await cli(['set-citizen', '--nic', '198012345678', '--name', 'Test Person'], {
      FUDI_CITIZEN_PASSWORD: 'second-password',
    });
    expect(await fudi.internals.citizens.checkPassword('198012345678', 'first-password')).toBeUndefined();
    expect(await fudi.internals.citizens.checkPassword('198012345678', 'second-password')).toBeDefined();
  });

  it('a rotated key is published at once but signs only after the publication delay', async () => {
    const app = await fudi.addServiceClient({ clientId: 'prepublish-app', resources: ['urn:ndx:api'] });
    const signing = decodeProtectedHeader(await fudi.clientCredentialsToken(app, 'urn:ndx:api')).kid;
    const { stdout } = await cli(['rotate-keys', '--publish-seconds', '600']);
    const pending = /new signing key (\S+)/.exec(stdout)![1];
    await expect
      .poll(
        async () =>
          ((await (await fetch(fudi.jwksUri)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid),
        {
          timeout: 5_000,
        },
      )
      .toEqual([signing, pending]);
    expect(decodeProtectedHeader(await fudi.clientCredentialsToken(app, 'urn:ndx:api')).kid).toBe(signing);
  });

  it('rotates the signing key; the running FUDI signs with it after its next key refresh', async () => {
    const app = await fudi.addServiceClient({ clientId: 'rotation-app', resources: ['urn:ndx:api'] });
    const oldKid = decodeProtectedHeader(await fudi.clientCredentialsToken(app, 'urn:ndx:api')).kid;
    const { stdout } = await cli(['rotate-keys', '--publish-seconds', '0']);
    const newKid = /new signing key (\S+)/.exec(stdout)![1];
    expect(newKid).not.toBe(oldKid);
    await expect
      .poll(async () => decodeProtectedHeader(await fudi.clientCredentialsToken(app, 'urn:ndx:api')).kid, {
        timeout: 5_000,
      })
      .toBe(newKid);
    const jwks = (await (await fetch(fudi.jwksUri)).json()) as { keys: { kid: string }[] };
    const published = jwks.keys.map((k) => k.kid);
    expect(published[0]).toBe(newKid);
    expect(published).toContain(oldKid);
  });
});
