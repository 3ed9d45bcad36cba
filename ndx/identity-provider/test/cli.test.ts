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
    // Each call starts a Node process; on a loaded two-core machine that alone can take many seconds.
    timeout: 60_000,
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
  }, 150_000);

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
    expect(await fudi.internals.citizens.checkPassword('198012345678', 'second-password')).toEqual({
      nic: '198012345678',
      name: 'Test Person',
      hasTotp: false,
      roles: [],
    });
  }, 150_000);

  it('gives an account a role with --role, keeps it on a password reset, and removes it with --clear-roles', async () => {
    const nic = '198112345678';
    const { stdout } = await cli(
      ['set-citizen', '--nic', nic, '--name', 'Officer', '--role', 'die-officer'],
      {
        FUDI_CITIZEN_PASSWORD: 'first-password',
      },
    );
    expect(stdout).toContain('roles: die-officer');
    expect((await fudi.internals.citizens.find(nic))?.roles).toEqual(['die-officer']);
    await cli(['set-citizen', '--nic', nic, '--name', 'Officer'], {
      FUDI_CITIZEN_PASSWORD: 'second-password',
    });
    expect((await fudi.internals.citizens.find(nic))?.roles).toEqual(['die-officer']);
    await cli(['set-citizen', '--nic', nic, '--name', 'Officer', '--clear-roles'], {
      FUDI_CITIZEN_PASSWORD: 'third-password',
    });
    expect((await fudi.internals.citizens.find(nic))?.roles).toEqual([]);
  });

  it('a rotated key is published at once but signs only after the publication delay', async () => {
    const app = await fudi.addServiceClient({ clientId: 'prepublish-app', resources: ['urn:ndx:api'] });
    const issue = async () => {
      const token = await fudi.clientCredentialsToken(app, 'urn:ndx:api');
      return { kid: decodeProtectedHeader(token).kid, iat: decodeJwt(token).iat! };
    };
    const signing = (await issue()).kid;
    // Long enough for the "not yet" half on a slow machine, short enough to wait out.
    const { stdout } = await cli(['rotate-keys', '--publish-seconds', '20']);
    const pending = /new signing key (\S+)/.exec(stdout)![1];
    const activatesAt = new Date(/it signs from (\S+)/.exec(stdout)![1]!).getTime() / 1000;
    expect(pending).not.toBe(signing);
    await expect
      .poll(
        async () =>
          ((await (await fetch(fudi.jwksUri)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid),
        {
          timeout: 5_000,
        },
      )
      .toEqual([signing, pending]);
    // Published, but not yet signing.
    const early = await issue();
    expect(
      early.iat,
      'the check ran before the new key was due (else the machine was too slow)',
    ).toBeLessThan(Math.floor(activatesAt));
    expect(early.kid).toBe(signing);

    // After the delay (and FUDI's next key refresh) the new key signs, and never before its time.
    const issued: { kid: string | undefined; iat: number }[] = [];
    await expect
      .poll(
        async () => {
          const one = await issue();
          issued.push(one);
          return one.kid;
        },
        { timeout: 45_000, interval: 500 },
      )
      .toBe(pending);
    const firstByNewKey = issued.find((i) => i.kid === pending)!;
    expect(firstByNewKey.iat).toBeGreaterThanOrEqual(Math.floor(activatesAt));
    expect(issued.filter((i) => i.kid !== signing && i.kid !== pending)).toEqual([]);
  }, 90_000);

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
