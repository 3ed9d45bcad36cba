// The verified-token cache of the token verifier: hits skip the signature, yet every use is checked like a fresh one.
import { beforeAll, describe, expect, it } from 'vitest';
import {
  SignJWT,
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  type CryptoKey,
  type JWTVerifyGetKey,
} from 'jose';
import {
  UnauthenticatedError,
  VerifiedTokenCache,
  createTokenVerifier,
  type TokenVerifier,
  type TokenVerifierOptions,
} from '../src/index.ts';

const ISSUER = 'https://fudi.test';
const T0 = 1_900_000_000_000; // a fixed instant (ms), whole seconds

let privateKey: CryptoKey;
let otherKey: CryptoKey;
let jwks: JWTVerifyGetKey;

beforeAll(async () => {
  const pair = await generateKeyPair('RS256');
  privateKey = pair.privateKey;
  otherKey = (await generateKeyPair('RS256')).privateKey;
  const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256' };
  jwks = createLocalJWKSet({ keys: [jwk] });
});

/** The key set, counting how often a signature is verified (jose looks the key up once per verification). */
function countingKeySet(): { keySet: JWTVerifyGetKey; lookups: () => number } {
  let lookups = 0;
  const keySet: JWTVerifyGetKey = (header, token) => {
    lookups++;
    return jwks(header, token);
  };
  return { keySet, lookups: () => lookups };
}

interface Clock {
  now: () => number;
  set: (ms: number) => void;
}
function clockAt(ms: number): Clock {
  let current = ms;
  return { now: () => current, set: (next) => (current = next) };
}

async function token(
  claims: { aud?: string; exp?: number; nbf?: number; client?: string } = {},
  header: { typ?: string } = { typ: 'at+jwt' },
  key: CryptoKey = privateKey,
): Promise<string> {
  const iat = T0 / 1000;
  const jwt = new SignJWT({ client_id: claims.client ?? 'passport-app' })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1', ...header })
    .setIssuer(ISSUER)
    .setAudience(claims.aud ?? 'urn:ndx:api')
    .setIssuedAt(iat)
    .setExpirationTime(claims.exp ?? iat + 300);
  if (claims.nbf !== undefined) jwt.setNotBefore(claims.nbf);
  return jwt.sign(key);
}

function verifier(options: Partial<TokenVerifierOptions> & { keySet: JWTVerifyGetKey }): TokenVerifier {
  return createTokenVerifier({ issuer: ISSUER, audience: 'urn:ndx:api', ...options });
}

async function refusal(using: TokenVerifier, jwt: string): Promise<string> {
  const error = await using.verify(jwt).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(UnauthenticatedError);
  return (error as UnauthenticatedError).message;
}

describe('verified-token cache', () => {
  it('verifies a token’s signature once, then answers the same token from the cache with the same claims', async () => {
    const { keySet, lookups } = countingKeySet();
    const clock = clockAt(T0);
    const tokens = verifier({ keySet, now: clock.now });
    const jwt = await token({ client: 'traffic-police-app' });

    const first = await tokens.verify(jwt);
    expect(lookups()).toBe(1);
    clock.set(T0 + 60_000);
    const second = await tokens.verifyAuthorizationHeader(`Bearer ${jwt}`);
    const third = await tokens.verify(jwt);
    expect(lookups()).toBe(1);
    expect(second).toEqual(first);
    expect(third.clientId).toBe('traffic-police-app');

    // A verifier without a cache verifies every time.
    const uncached = countingKeySet();
    const everyTime = verifier({ keySet: uncached.keySet, now: clock.now, cache: false });
    await everyTime.verify(jwt);
    await everyTime.verify(jwt);
    expect(uncached.lookups()).toBe(2);
  });

  it('refuses a cached token from its exp on, by the injected clock, and verifies it from scratch then', async () => {
    const { keySet, lookups } = countingKeySet();
    const clock = clockAt(T0);
    const tokens = verifier({ keySet, now: clock.now, clockToleranceSeconds: 0 });
    const jwt = await token({ exp: T0 / 1000 + 120 });

    expect((await tokens.verify(jwt)).clientId).toBe('passport-app');
    clock.set(T0 + 119_000);
    expect((await tokens.verify(jwt)).clientId).toBe('passport-app');
    expect(lookups()).toBe(1);
    clock.set(T0 + 120_000);
    expect(await refusal(tokens, jwt)).toBe('invalid token: expired');
    expect(lookups()).toBe(2);
  });

  it('does not accept a cached token before its nbf', async () => {
    const { keySet } = countingKeySet();
    const clock = clockAt(T0);
    const cache = new VerifiedTokenCache(10);
    const jwt = await token({ nbf: T0 / 1000 + 100 });
    // Verified by a verifier whose clock is later, so the entry exists...
    const later = verifier({ keySet, cache, now: () => T0 + 200_000 });
    expect((await later.verify(jwt)).clientId).toBe('passport-app');
    expect(cache.size).toBe(1);
    // ...but a verifier whose clock is before nbf refuses it, cache or not.
    const early = verifier({ keySet, cache, now: clock.now, clockToleranceSeconds: 0 });
    expect(await refusal(early, jwt)).toMatch(/claim nbf rejected/);
  });

  it('keeps at most maxEntries tokens, dropping the least recently used', async () => {
    const { keySet, lookups } = countingKeySet();
    const cache = new VerifiedTokenCache(2);
    const tokens = verifier({ keySet, cache, now: () => T0 });
    const [a, b, c] = await Promise.all([
      token({ client: 'a' }),
      token({ client: 'b' }),
      token({ client: 'c' }),
    ]);
    await tokens.verify(a);
    await tokens.verify(b);
    await tokens.verify(a); // a is now the most recently used
    await tokens.verify(c); // drops b
    expect(cache.size).toBe(2);
    expect(lookups()).toBe(3);
    await tokens.verify(a);
    await tokens.verify(c);
    expect(lookups()).toBe(3);
    await tokens.verify(b);
    expect(lookups()).toBe(4);
    expect(cache.size).toBe(2);
  });

  it('does not satisfy another audience or typ requirement from an entry made for one, even in a shared cache', async () => {
    const { keySet } = countingKeySet();
    const cache = new VerifiedTokenCache(10);
    const now = () => T0;
    const api = verifier({ keySet, cache, now, typ: 'at+jwt' });
    const pdp = verifier({ keySet, cache, now, audience: 'urn:ndx:pdp', typ: 'at+jwt' });
    const strictTyp = verifier({ keySet, cache, now, typ: 'secevent+jwt' });
    const otherIssuer = createTokenVerifier({
      issuer: 'https://elsewhere.test',
      audience: 'urn:ndx:api',
      keySet,
      cache,
      now,
    });

    const jwt = await token();
    expect((await api.verify(jwt)).clientId).toBe('passport-app');
    expect(cache.size).toBe(1);
    expect(await refusal(pdp, jwt)).toMatch(/claim aud rejected/);
    expect(await refusal(strictTyp, jwt)).toMatch(/wrong token type/);
    expect(await refusal(otherIssuer, jwt)).toMatch(/claim iss rejected/);
    // The entry is still there and still good for the verifier it satisfies.
    expect((await api.verify(jwt)).clientId).toBe('passport-app');

    const untyped = await token({}, {});
    expect((await verifier({ keySet, cache, now }).verify(untyped)).clientId).toBe('passport-app');
    expect(await refusal(api, untyped)).toMatch(/wrong token type/);
  });

  it('never caches a token whose signature does not verify: a forgery of a cached token’s claims is refused every time', async () => {
    const { keySet, lookups } = countingKeySet();
    const cache = new VerifiedTokenCache(10);
    const tokens = verifier({ keySet, cache, now: () => T0 });
    const genuine = await token();
    await tokens.verify(genuine);
    const forged = await token({}, { typ: 'at+jwt' }, otherKey);
    const [header, payload] = genuine.split('.');
    const tampered = `${header}.${payload}.${forged.split('.')[2]}`;
    for (let i = 0; i < 2; i++) {
      expect(await refusal(tokens, forged)).toBe('invalid token: signature does not verify');
      expect(await refusal(tokens, tampered)).toBe('invalid token: signature does not verify');
    }
    expect(lookups()).toBe(5);
    expect(cache.size).toBe(1);
  });
});
