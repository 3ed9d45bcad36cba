// service-kit's token verifier, `typ` required, against the JWTs the real FUDI signs (here, since a kit's tests import no service).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as oidc from 'openid-client';
import { SignJWT, decodeJwt, decodeProtectedHeader, importJWK } from 'jose';
import { UnauthenticatedError, createTokenVerifier, type TokenVerifier } from '@ndx/service-kit';
import { startTestIdentityProvider, type TestIdentityProvider } from '../testing/index.ts';
import { browse, CookieJar, submitFudiLogin } from '../testing/browser.ts';

const REDIRECT_URI = 'http://127.0.0.1:1/officer/callback';
const amara = { nic: '199560201234', name: 'Amara Chanda', password: 'amara-demo-2026' };

let fudi: TestIdentityProvider;
/** What a consumer app obtains with client credentials. */
let clientToken: string;
/** What a web client of the NDX API gets after a citizen signed in: an access token and an ID token. */
let signedIn: { accessToken: string; idToken: string };

/** A citizen's sign-in through FUDI's real login page (authorization code + PKCE) with a public client. */
async function signIn(clientId: string): Promise<{ accessToken: string; idToken: string }> {
  const client = await oidc.discovery(new URL(fudi.issuer), clientId, undefined, oidc.None(), {
    execute: [oidc.allowInsecureRequests],
  });
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(client, {
    redirect_uri: REDIRECT_URI,
    scope: 'openid profile',
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    resource: 'urn:ndx:api',
  });
  const jar = new CookieJar();
  const stopAt = (u: string) => u.startsWith(REDIRECT_URI);
  const landing = await submitFudiLogin(
    jar,
    await browse(jar, url.href, { stopAt }),
    amara.nic,
    amara.password,
    stopAt,
  );
  if (!landing.stoppedAt)
    throw new Error(`no redirect back (landed on ${landing.url}, HTTP ${landing.status})`);
  const tokens = await oidc.authorizationCodeGrant(client, new URL(landing.stoppedAt), {
    pkceCodeVerifier: verifier,
    expectedState: state,
  });
  return { accessToken: tokens.access_token, idToken: tokens.id_token! };
}

beforeAll(async () => {
  fudi = await startTestIdentityProvider({ FUDI_SEED_ACCOUNTS: JSON.stringify([amara]) });
  const app = await fudi.addServiceClient({ clientId: 'passport-app', resources: ['urn:ndx:api'] });
  clientToken = await fudi.clientCredentialsToken(app, 'urn:ndx:api');
  await fudi.addWebClient({
    clientId: 'officer-desk',
    redirectUris: [REDIRECT_URI],
    resources: ['urn:ndx:api'],
    public: true,
  });
  signedIn = await signIn('officer-desk');
});
afterAll(async () => {
  await fudi?.stop();
});

async function rejection(using: TokenVerifier, token: string): Promise<string> {
  const error = await using.verify(token).then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(UnauthenticatedError);
  return (error as UnauthenticatedError).message;
}

/** A JWT signed with FUDI's real signing key, FUDI's issuer and the NDX API's audience, with the given header typ. */
async function signedByFudi(typ: string | undefined): Promise<string> {
  const jwk = (await fudi.internals.keys.currentKeys())[0]!;
  return new SignJWT({ client_id: 'passport-app', sub: 'passport-app' })
    .setProtectedHeader({ alg: 'RS256', kid: jwk.kid!, ...(typ === undefined ? {} : { typ }) })
    .setIssuer(fudi.issuer)
    .setAudience('urn:ndx:api')
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(await importJWK(jwk, 'RS256'));
}

describe('the token verifier with typ at+jwt required (RFC 9068 access tokens only)', () => {
  it('accepts FUDI’s access tokens: a client-credentials token and a signed-in citizen’s token, both typ at+jwt', async () => {
    const verifier = createTokenVerifier({ issuer: fudi.issuer, audience: 'urn:ndx:api', typ: 'at+jwt' });
    for (const token of [clientToken, signedIn.accessToken])
      expect(decodeProtectedHeader(token).typ).toBe('at+jwt');
    expect(await verifier.verify(clientToken)).toMatchObject({
      clientId: 'passport-app',
      subject: 'passport-app',
    });
    // The verifier does not tell a user's token from a client's: FUDI marks that in `sub` (the OE checks it).
    expect(await verifier.verify(signedIn.accessToken)).toMatchObject({
      clientId: 'officer-desk',
      subject: amara.nic,
    });
  });

  it('refuses FUDI’s ID token, which passes every other check of a verifier for its audience, as the wrong type', async () => {
    const { typ } = decodeProtectedHeader(signedIn.idToken);
    expect(typ).not.toBe('at+jwt');
    expect(decodeJwt(signedIn.idToken)).toMatchObject({
      iss: fudi.issuer,
      aud: 'officer-desk',
      sub: amara.nic,
    });
    const options = { issuer: fudi.issuer, audience: 'officer-desk' };
    expect((await createTokenVerifier(options).verify(signedIn.idToken)).subject).toBe(amara.nic);
    expect(await rejection(createTokenVerifier({ ...options, typ: 'at+jwt' }), signedIn.idToken)).toBe(
      `invalid token: wrong token type (typ ${typ === undefined ? 'absent' : JSON.stringify(typ)}, expected "at+jwt")`,
    );
  });

  it('refuses a JWT FUDI’s key signed for the NDX API whose typ is JWT or absent, and accepts application/at+jwt', async () => {
    const lenient = createTokenVerifier({ issuer: fudi.issuer, audience: 'urn:ndx:api' });
    const strict = createTokenVerifier({ issuer: fudi.issuer, audience: 'urn:ndx:api', typ: 'at+jwt' });
    for (const typ of ['JWT', undefined]) {
      const token = await signedByFudi(typ);
      expect((await lenient.verify(token)).clientId).toBe('passport-app');
      expect(await rejection(strict, token)).toBe(
        `invalid token: wrong token type (typ ${typ === undefined ? 'absent' : '"JWT"'}, expected "at+jwt")`,
      );
    }
    expect((await strict.verify(await signedByFudi('application/at+jwt'))).clientId).toBe('passport-app');
  });
});
