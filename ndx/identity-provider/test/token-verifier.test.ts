// service-kit's token verifier against the tokens the real FUDI issues (here, since a kit's tests import no service).
import { createPublicKey } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT, base64url, decodeJwt, exportJWK, generateKeyPair, importJWK, type JWK } from 'jose';
import {
  UnauthenticatedError,
  createClientCredentialsSource,
  createTokenVerifier,
  type TokenVerifier,
} from '@ndx/service-kit';
import { startTestIdentityProvider, type TestIdentityProvider } from '../testing/index.ts';

let fudi: TestIdentityProvider;
let verifier: TokenVerifier;
let goodToken: string;
let signingJwk: JWK;

beforeAll(async () => {
  fudi = await startTestIdentityProvider();
  const app = await fudi.addServiceClient({ clientId: 'passport-app', resources: ['urn:ndx:api'] });
  goodToken = await fudi.clientCredentialsToken(app, 'urn:ndx:api');
  verifier = createTokenVerifier({ issuer: fudi.issuer, audience: 'urn:ndx:api' });
  signingJwk = (await fudi.internals.keys.currentKeys())[0]!;
});
afterAll(async () => {
  await fudi?.stop();
});

/** A token signed with FUDI's real signing key, with the given claims changed. */
async function signedByFudi(
  claims: Record<string, unknown>,
  header: Record<string, unknown> = {},
): Promise<string> {
  const key = await importJWK(signingJwk, 'RS256');
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ client_id: 'passport-app', ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: signingJwk.kid!, typ: 'at+jwt', ...header })
    .setIssuer((claims.iss as string) ?? fudi.issuer)
    .setAudience((claims.aud as string) ?? 'urn:ndx:api')
    .setIssuedAt((claims.iat as number) ?? now)
    .setExpirationTime((claims.exp as number) ?? now + 300)
    .sign(key);
}

async function rejection(token: string, using: TokenVerifier = verifier): Promise<string> {
  const error = await using.verify(token).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(UnauthenticatedError);
  return (error as UnauthenticatedError).message;
}

describe('token verifier against the real FUDI', () => {
  it('accepts a FUDI client-credentials token and reports its client', async () => {
    const verified = await verifier.verify(goodToken);
    expect(verified).toMatchObject({ clientId: 'passport-app', scopes: [] });
    expect(verified.claims.aud).toBe('urn:ndx:api');
  });

  it('accepts a token from the kit’s client-credentials source (Bearer header)', async () => {
    const app = await fudi.addServiceClient({ clientId: 'traffic-police-app', resources: ['urn:ndx:api'] });
    const source = createClientCredentialsSource({
      tokenUrl: fudi.tokenUrl,
      ...app,
      resource: 'urn:ndx:api',
    });
    const token = await source.getToken();
    expect(await source.getToken()).toBe(token);
    expect((await verifier.verifyAuthorizationHeader(`Bearer ${token}`)).clientId).toBe('traffic-police-app');
    await expect(verifier.verifyAuthorizationHeader(undefined)).rejects.toThrow(/bearer token is required/);
  });

  it('rejects an expired token', async () => {
    const token = await signedByFudi({ exp: Math.floor(Date.now() / 1000) - 60 });
    expect(await rejection(token)).toMatch(/expired/);
  });

  it('rejects a token issued in the future beyond the clock tolerance, and accepts one within it', async () => {
    const now = Math.floor(Date.now() / 1000);
    const ahead = await signedByFudi({ iat: now + 120, exp: now + 420 });
    expect(await rejection(ahead)).toBe('invalid token: claim iat rejected (check_failed)');
    const withinTolerance = await signedByFudi({ iat: now + 2 });
    expect((await verifier.verify(withinTolerance)).clientId).toBe('passport-app');
  });

  it('rejects a token for another audience', async () => {
    const pdpVerifier = createTokenVerifier({ issuer: fudi.issuer, audience: 'urn:ndx:pdp' });
    expect(await rejection(goodToken, pdpVerifier)).toMatch(/claim aud rejected/);
  });

  it('rejects a token from another issuer', async () => {
    const token = await signedByFudi({ iss: 'http://127.0.0.1:1' });
    expect(await rejection(token)).toMatch(/claim iss rejected/);
  });

  it('rejects alg none', async () => {
    const [, payload] = goodToken.split('.');
    const header = base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }));
    expect(await rejection(`${header}.${payload}.`)).toMatch(/invalid token/);
  });

  it('rejects an HS256 token whose HMAC key is FUDI’s public key', async () => {
    const publicPem = createPublicKey({ key: signingJwk as never, format: 'jwk' }).export({
      type: 'spki',
      format: 'pem',
    });
    const token = await new SignJWT({ client_id: 'passport-app' })
      .setProtectedHeader({ alg: 'HS256', kid: signingJwk.kid! })
      .setIssuer(fudi.issuer)
      .setAudience('urn:ndx:api')
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(String(publicPem)));
    expect(await rejection(token)).toMatch(/algorithm not allowed/);
  });

  it('rejects a token signed by a key FUDI does not publish', async () => {
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const jwk = await exportJWK(privateKey);
    const token = await new SignJWT({ client_id: 'passport-app' })
      .setProtectedHeader({ alg: 'RS256', kid: 'attacker-key' })
      .setIssuer(fudi.issuer)
      .setAudience('urn:ndx:api')
      .setExpirationTime('5m')
      .sign(await importJWK(jwk, 'RS256'));
    expect(await rejection(token)).toMatch(/unknown key/);
  });

  it('rejects a token whose payload was changed after signing', async () => {
    const [header, , signature] = goodToken.split('.');
    const claims = { ...decodeJwt(goodToken), client_id: 'someone-else' };
    const tampered = `${header}.${base64url.encode(JSON.stringify(claims))}.${signature}`;
    expect(await rejection(tampered)).toMatch(/signature does not verify/);
  });
});
