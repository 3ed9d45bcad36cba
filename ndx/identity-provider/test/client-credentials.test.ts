import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import * as oidc from 'openid-client';
import { createClientCredentialsSource, createTokenVerifier } from '@ndx/service-kit';
import { startTestIdentityProvider, type TestIdentityProvider } from '../testing/index.ts';

let fudi: TestIdentityProvider;

beforeAll(async () => {
  fudi = await startTestIdentityProvider();
});
afterAll(async () => {
  await fudi?.stop();
});

describe('client credentials for machine clients', () => {
  it('issues a JWT access token whose audience is the resource and which carries client_id', async () => {
    const app = await fudi.addServiceClient({ clientId: 'passport-app', resources: ['urn:ndx:api'] });
    const token = await fudi.clientCredentialsToken(app, 'urn:ndx:api');
    const claims = decodeJwt(token);
    expect(claims).toMatchObject({ iss: fudi.issuer, aud: 'urn:ndx:api', client_id: 'passport-app' });
    expect(claims.exp! - claims.iat!).toBe(600);
    expect(decodeProtectedHeader(token).alg).toBe('RS256');
    const verified = await createTokenVerifier({ issuer: fudi.issuer, audience: 'urn:ndx:api' }).verify(
      token,
    );
    expect(verified.clientId).toBe('passport-app');
  });

  it('openid-client discovers FUDI and gets a token with client_secret_basic (the DIE app)', async () => {
    const die = await fudi.addServiceClient({ clientId: 'die-oidc', resources: ['urn:ndx:api'] });
    const config = await oidc.discovery(
      new URL(fudi.issuer),
      die.clientId,
      die.clientSecret,
      oidc.ClientSecretBasic(die.clientSecret),
      {
        execute: [oidc.allowInsecureRequests],
      },
    );
    const metadata = config.serverMetadata();
    expect(metadata.issuer).toBe(fudi.issuer);
    expect(metadata.jwks_uri).toBe(`${fudi.issuer}/jwks`);
    expect(metadata.token_endpoint).toBe(`${fudi.issuer}/token`);
    const tokens = await oidc.clientCredentialsGrant(config, { resource: 'urn:ndx:api' });
    expect(decodeJwt(tokens.access_token).aud).toBe('urn:ndx:api');
  });

  it('gives a client with one resource a token for it when it names none', async () => {
    const app = await fudi.addServiceClient({ clientId: 'traffic-police-app', resources: ['urn:ndx:api'] });
    const source = createClientCredentialsSource({
      tokenUrl: fudi.tokenUrl,
      clientId: app.clientId,
      clientSecret: app.clientSecret,
    });
    expect(decodeJwt(await source.getToken()).aud).toBe('urn:ndx:api');
  });

  it('grants a scope only to clients registered with it', async () => {
    const operator = await fudi.addServiceClient({
      clientId: 'ndx-operator',
      resources: ['urn:ndx:pdp', 'urn:ndx:consent'],
      scopes: ['admin'],
    });
    const oe = await fudi.addServiceClient({
      clientId: 'orchestration-engine',
      resources: ['urn:ndx:pdp', 'urn:ndx:consent', 'urn:dmt:vehicles'],
    });
    expect(decodeJwt(await fudi.clientCredentialsToken(operator, 'urn:ndx:pdp', 'admin')).scope).toBe(
      'admin',
    );
    expect(decodeJwt(await fudi.clientCredentialsToken(oe, 'urn:ndx:pdp', 'admin')).scope).toBeUndefined();
    expect(decodeJwt(await fudi.clientCredentialsToken(oe, 'urn:dmt:vehicles')).aud).toBe('urn:dmt:vehicles');
  });

  it('refuses a resource the client is not registered for', async () => {
    const app = await fudi.addServiceClient({ clientId: 'narrow-app', resources: ['urn:ndx:api'] });
    await expect(fudi.clientCredentialsToken(app, 'urn:ndx:pdp')).rejects.toThrow(/HTTP 400 invalid_target/);
  });

  it('refuses a wrong client secret', async () => {
    const app = await fudi.addServiceClient({ clientId: 'secret-app', resources: ['urn:ndx:api'] });
    await expect(
      fudi.clientCredentialsToken({ ...app, clientSecret: 'x'.repeat(43) }, 'urn:ndx:api'),
    ).rejects.toThrow(/HTTP 401 invalid_client/);
  });

  it('publishes the public signing keys only', async () => {
    const jwks = (await (await fetch(fudi.jwksUri)).json()) as { keys: Record<string, unknown>[] };
    expect(jwks.keys.length).toBeGreaterThanOrEqual(1);
    for (const key of jwks.keys) {
      expect(key).toMatchObject({ kty: 'RSA', use: 'sig' });
      expect(key.d).toBeUndefined();
    }
  });
});
