import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { decodeProtectedHeader } from 'jose';
import { createTokenVerifier } from '@ndx/service-kit';
import {
  createTestDatabase,
  freePort,
  randomSecret,
  testLogger,
  type TestDatabase,
} from '@ndx/service-kit/testing';
import { buildIdentityProvider, type IdentityProvider } from '../src/app.ts';
import { readConfig } from '../src/config.ts';
import { TestBrowser } from './support/browser.ts';

const REDIRECT_URI = 'http://127.0.0.1:8081/auth/callback';

let database: TestDatabase;
let port: number;
let issuer: string;
let cookieSecret: string;
let running: IdentityProvider | undefined;

const clients = JSON.stringify([
  { clientId: 'consent-portal', public: true, redirectUris: [REDIRECT_URI], resources: ['urn:ndx:consent'] },
  { clientId: 'passport-app', clientSecret: 'passport-app-secret-for-tests', resources: ['urn:ndx:api'] },
]);

async function start(): Promise<IdentityProvider> {
  const config = readConfig({
    DATABASE_URL: database.url,
    FUDI_ISSUER: issuer,
    FUDI_COOKIE_SECRET: cookieSecret,
    FUDI_CLIENTS: clients,
    FUDI_SEED_ACCOUNTS: JSON.stringify([
      { nic: '852321234V', name: 'Bwalya Mwansa', password: 'bwalya-demo-2026' },
    ]),
    FUDI_KEY_REFRESH_SECONDS: '0',
  });
  running = await buildIdentityProvider(config, testLogger('identity-provider'));
  await running.app.listen({ port, host: '127.0.0.1' });
  return running;
}

async function stop(): Promise<void> {
  await running?.app.close();
  running = undefined;
}

async function publishedKids(): Promise<string[]> {
  const jwks = (await (await fetch(`${issuer}/jwks`)).json()) as { keys: { kid: string }[] };
  return jwks.keys.map((k) => k.kid);
}

beforeAll(async () => {
  database = await createTestDatabase('fudi_restart');
  port = await freePort();
  issuer = `http://127.0.0.1:${port}`;
  cookieSecret = randomSecret(32);
});
afterAll(async () => {
  await stop();
  await database?.drop();
});

describe('FUDI keeps its state in PostgreSQL', () => {
  it('keeps signing keys, sessions and refresh tokens across a restart, and rotates keys', async () => {
    await start();
    const kidsBefore = await publishedKids();
    expect(kidsBefore).toHaveLength(1);

    const portal = await oidc.discovery(new URL(issuer), 'consent-portal', undefined, oidc.None(), {
      execute: [oidc.allowInsecureRequests],
    });
    const browser = new TestBrowser();
    const signIn = async () => {
      const verifier = oidc.randomPKCECodeVerifier();
      const url = oidc.buildAuthorizationUrl(portal, {
        redirect_uri: REDIRECT_URI,
        scope: 'openid profile',
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        resource: 'urn:ndx:consent',
      });
      return { verifier, page: await browser.open(url.href, {}, REDIRECT_URI) };
    };
    const first = await signIn();
    const done = await browser.submit(
      first.page,
      '/login',
      { nic: '852321234V', password: 'bwalya-demo-2026' },
      REDIRECT_URI,
    );
    const tokens = await oidc.authorizationCodeGrant(portal, new URL(done.url), {
      pkceCodeVerifier: first.verifier,
      idTokenExpected: true,
    });

    await stop();
    await start();

    expect(await publishedKids()).toEqual(kidsBefore);
    const verifier = createTokenVerifier({ issuer, audience: 'urn:ndx:consent' });
    expect((await verifier.verify(tokens.access_token)).subject).toBe('852321234V');
    const renewed = await oidc.refreshTokenGrant(portal, tokens.refresh_token!);
    expect((await verifier.verify(renewed.access_token)).subject).toBe('852321234V');
    // the browser session survived: no sign-in form this time
    const second = await signIn();
    expect(second.page.url).toMatch(/\?code=/);

    // rotation: a new key signs, the old one stays published so earlier tokens still verify
    const { kid: newKid } = await running!.keys.rotate(0);
    expect(await running!.reloadKeys()).toBe(true);
    expect(await publishedKids()).toEqual([newKid, ...kidsBefore]);
    const after = await oidc.refreshTokenGrant(portal, renewed.refresh_token ?? tokens.refresh_token!);
    expect(decodeProtectedHeader(after.access_token).kid).toBe(newKid);
    // (a fresh verifier: a cached key set is refetched for an unknown kid only after a 30 s cool-down)
    const freshVerifier = createTokenVerifier({ issuer, audience: 'urn:ndx:consent' });
    expect((await freshVerifier.verify(after.access_token)).subject).toBe('852321234V');
    expect((await freshVerifier.verify(tokens.access_token)).subject).toBe('852321234V');

    // the client list from configuration is applied on every start
    const passportApp = await oidc.discovery(
      new URL(issuer),
      'passport-app',
      undefined,
      oidc.ClientSecretBasic('passport-app-secret-for-tests'),
      { execute: [oidc.allowInsecureRequests] },
    );
    const cc = await oidc.clientCredentialsGrant(passportApp, { resource: 'urn:ndx:api' });
    expect(decodeProtectedHeader(cc.access_token).kid).toBe(newKid);
  });
});
