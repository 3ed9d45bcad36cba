import { createHash, randomBytes } from 'node:crypto';
import { SignJWT, decodeJwt, decodeProtectedHeader, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browse, CookieJar, submitFudiLogin } from '@ndx/identity-provider/testing-browser';
import { demoCitizens } from '@ndx/synthetic-data';
import { addFudiClient, ndxApiToken } from './support/consumer-onboarding.ts';
import { startTestStack, type TestStack } from './support/test-stack.ts';

/**
 * Every token check at the three services that verify FUDI tokens themselves: the OE (`POST /graphql`),
 * the PDP (`POST /v1/decisions`) and the CE (`POST /v1/consents/check`). Each refusal is a 401 with the
 * code UNAUTHENTICATED and the reason in the message, at all three.
 *
 * Then what only the OE checks: that the token is an access token (not an ID token), issued to a consumer
 * app by client credentials (not for a signed-in user), of a client the PDP registers as a consumer.
 */

/** FUDI's shortest access-token lifetime: this stack's tokens expire while the test waits. */
const TOKEN_TTL_SECONDS = 30;
/** The verifiers' clock tolerance (service-kit token-verifier). */
const CLOCK_TOLERANCE_SECONDS = 5;

type Service = 'OE' | 'PDP' | 'CE';
const SERVICES: Service[] = ['OE', 'PDP', 'CE'];

interface Answer {
  status: number;
  code: string | undefined;
  message: string;
  body: Record<string, unknown>;
}

let t: TestStack;

beforeAll(async () => {
  process.env.FUDI_ACCESS_TOKEN_TTL_SECONDS = String(TOKEN_TTL_SECONDS);
  try {
    t = await startTestStack({ only: ['orchestration-engine'] });
  } finally {
    delete process.env.FUDI_ACCESS_TOKEN_TTL_SECONDS;
  }
}, 240_000);

afterAll(async () => {
  await t?.stop();
});

/** The token each service accepts (the positive control), fresh from the stack's FUDI. */
const rightToken: Record<Service, () => Promise<string>> = {
  OE: () => t.clientToken('passport-app', 'urn:ndx:api'),
  PDP: () => t.clientToken('orchestration-engine', 'urn:ndx:pdp'),
  CE: () => t.clientToken('orchestration-engine', 'urn:ndx:consent'),
};

/** A real FUDI token of a client the service would accept, but for another audience. */
const otherAudienceToken: Record<Service, () => Promise<string>> = {
  OE: () => t.clientToken('orchestration-engine', 'urn:ndx:pdp'),
  PDP: () => t.clientToken('passport-app', 'urn:ndx:api'),
  CE: () => t.clientToken('orchestration-engine', 'urn:ndx:pdp'),
};

const request: Record<Service, () => { url: string; body: unknown }> = {
  OE: () => ({ url: `${t.url('orchestration-engine')}/graphql`, body: { query: '{ __typename }' } }),
  PDP: () => ({
    url: `${t.url('policy-decision-point')}/v1/decisions`,
    body: {
      consumerId: 'passport-app',
      purpose: 'passport-application',
      subjectId: '199560201234',
      fields: [{ providerKey: 'rgd', schemaId: 'abc-212', field: 'getPersonInfo.fullName' }],
    },
  }),
  CE: () => ({
    url: `${t.url('consent-engine')}/v1/consents/check`,
    body: {
      citizenId: '199560201234',
      consumerId: 'passport-app',
      purpose: 'passport-application',
      fields: [{ providerKey: 'rgd', schemaId: 'abc-212', field: 'getPersonInfo.fullName' }],
    },
  }),
};

/** Calls the service with the given bearer token (none when null); the OE's GraphQL error is unwrapped. */
async function call(
  service: Service,
  token: string | null,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const { url, body } = request[service]();
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token !== null ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(20_000),
  });
  const json = (await response.json()) as Record<string, unknown>;
  const error =
    service === 'OE'
      ? (json['errors'] as { message: string; extensions: { code: string } }[] | undefined)?.[0]
      : (json['error'] as { message: string; code: string } | undefined);
  const code = error === undefined ? undefined : 'extensions' in error ? error.extensions.code : error.code;
  return { status: response.status, code, message: error?.message ?? '', body: json };
}

/** The service did its work for the caller: what each answers to an accepted token. */
function expectAccepted(service: Service, answer: Answer): void {
  expect(answer.status, `${service} refused a valid token: ${answer.message}`).toBe(200);
  if (service === 'OE') expect(answer.body['data']).toEqual({ __typename: 'Query' });
  if (service === 'PDP')
    expect((answer.body['fields'] as { decision: string }[]).map((f) => f.decision)).toEqual([
      'CONSENT_REQUIRED',
    ]);
  if (service === 'CE') expect(answer.body['covered']).toBe(false);
}

function expectRefused(service: Service, answer: Answer, reason: RegExp): void {
  expect({ service, status: answer.status, code: answer.code }).toEqual({
    service,
    status: 401,
    code: 'UNAUTHENTICATED',
  });
  expect(answer.message, service).toMatch(reason);
}

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

describe('tokens the OE, PDP and CE refuse (401 UNAUTHENTICATED)', () => {
  it('accepts the token FUDI issues for each service (the control the refusals are measured against)', async () => {
    for (const service of SERVICES) expectAccepted(service, await call(service, await rightToken[service]()));
  });

  it('refuses a request without a token', async () => {
    for (const service of SERVICES) {
      expectRefused(service, await call(service, null), /a bearer token is required/);
    }
  });

  it('refuses a token with FUDI’s claims and FUDI’s key id but a forged signature', async () => {
    const jwks = (await (await fetch(`${t.url('identity-provider')}/jwks`)).json()) as {
      keys: { kid: string }[];
    };
    const { privateKey } = await generateKeyPair('RS256');
    for (const service of SERVICES) {
      const real = await rightToken[service]();
      const { kid } = decodeProtectedHeader(real);
      expect(jwks.keys.map((k) => k.kid)).toContain(kid);
      const forged = await new SignJWT(decodeJwt(real))
        .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid: kid! })
        .sign(privateKey);
      expectRefused(service, await call(service, forged), /signature does not verify/);
    }
  });

  it('refuses an unsigned token (alg none) with FUDI’s issuer, the service’s audience and a client id', async () => {
    for (const service of SERVICES) {
      const real = decodeJwt(await rightToken[service]());
      const claims = {
        iss: real.iss,
        aud: real.aud,
        client_id: real['client_id'],
        sub: real.sub,
        scope: real['scope'],
        jti: 'unsigned',
        iat: Math.floor(Date.now() / 1000),
        exp: Math.floor(Date.now() / 1000) + 300,
      };
      expect(claims).toMatchObject({ iss: t.url('identity-provider'), client_id: expect.any(String) });
      const unsigned = `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url(claims)}.`;
      expectRefused(service, await call(service, unsigned), /algorithm not allowed/);
    }
  });

  it('refuses a real FUDI token for another audience', async () => {
    for (const service of SERVICES) {
      const token = await otherAudienceToken[service]();
      expect(decodeJwt(token).aud).not.toEqual(decodeJwt(await rightToken[service]()).aud);
      expectRefused(service, await call(service, token), /claim aud rejected/);
    }
  });

  it(
    'refuses a token FUDI really issued once it has expired, after accepting that same token before',
    async () => {
      const tokens = Object.fromEntries(
        await Promise.all(SERVICES.map(async (s) => [s, await rightToken[s]()] as const)),
      ) as Record<Service, string>;
      for (const service of SERVICES) {
        const { exp, iat } = decodeJwt(tokens[service]);
        expect(exp! - iat!).toBe(TOKEN_TTL_SECONDS);
        expectAccepted(service, await call(service, tokens[service]));
      }

      const latestExpiry = Math.max(...SERVICES.map((s) => decodeJwt(tokens[s]).exp!));
      const wait = (latestExpiry + CLOCK_TOLERANCE_SECONDS + 1) * 1000 - Date.now();
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, wait)));

      for (const service of SERVICES) {
        expectRefused(service, await call(service, tokens[service]), /invalid token: expired/);
      }
    },
    (TOKEN_TTL_SECONDS + CLOCK_TOLERANCE_SECONDS) * 1000 + 60_000,
  );
});

const amara = demoCitizens.find((c) => c.nic === '199560201234')!;
/** A client-credentials client of the NDX API that FUDI knows but the PDP does not register. */
const UNREGISTERED = 'tax-app';
/** A purpose the clients below name, so that nothing but the token check stands between them and an answer. */
const PURPOSE = { 'ndx-purpose': 'passport-application' };

/**
 * A citizen signs in to the passport app on FUDI's real login page (authorization code + PKCE; the app is a
 * confidential client), and the app redeems the code: the access token (for the NDX API, the client's one
 * resource) and the ID token FUDI returns.
 */
async function signInToPassportApp(): Promise<{ accessToken: string; idToken: string }> {
  const issuer = t.url('identity-provider');
  const redirectUri = `${t.url('passport-app')}/auth/callback`;
  const verifier = randomBytes(32).toString('base64url');
  const authorize = new URL(`${issuer}/auth`);
  authorize.search = new URLSearchParams({
    client_id: 'passport-app',
    redirect_uri: redirectUri,
    response_type: 'code',
    scope: 'openid',
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    state: randomBytes(8).toString('hex'),
  }).toString();
  const jar = new CookieJar();
  const stopAt = (url: string) => url.startsWith(redirectUri);
  const login = await browse(jar, authorize.href, { stopAt });
  const landing = await submitFudiLogin(jar, login, amara.nic, amara.password, stopAt);
  const code = landing.stoppedAt ? new URL(landing.stoppedAt).searchParams.get('code') : null;
  if (!code) throw new Error(`no authorization code (landed on ${landing.url}, HTTP ${landing.status})`);
  const secret = t.secret('fudi.client.passport-app');
  const response = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`passport-app:${secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: redirectUri,
      code_verifier: verifier,
    }),
  });
  const body = (await response.json()) as { access_token?: string; id_token?: string; error?: string };
  if (!body.access_token || !body.id_token)
    throw new Error(`token exchange failed: ${response.status} ${body.error}`);
  return { accessToken: body.access_token, idToken: body.id_token };
}

/** The PDP's consumer registry, read as the OE reads it. */
async function registryStatus(consumerId: string): Promise<{ status: number; code: string | undefined }> {
  const response = await fetch(`${t.url('policy-decision-point')}/v1/consumers/${consumerId}`, {
    headers: { authorization: `Bearer ${await t.clientToken('orchestration-engine', 'urn:ndx:pdp')}` },
  });
  const body = (await response.json()) as { error?: { code: string } };
  return { status: response.status, code: body.error?.code };
}

describe('the OE answers only access tokens a registered consumer obtained with client credentials', () => {
  /** What the passport app holds after a citizen signed in to it. */
  let signedIn: { accessToken: string; idToken: string };
  let unregisteredToken: string;

  beforeAll(async () => {
    signedIn = await signInToPassportApp();
    const secret = await addFudiClient(t, ['--id', UNREGISTERED, '--resource', 'urn:ndx:api']);
    unregisteredToken = await ndxApiToken(t, UNREGISTERED, secret!);
  }, 120_000);

  it('accepts the passport app’s and the traffic police app’s client tokens (sub = client_id, registered)', async () => {
    for (const clientId of ['passport-app', 'traffic-police-app']) {
      const token = await t.clientToken(clientId, 'urn:ndx:api');
      expect(decodeProtectedHeader(token).typ).toBe('at+jwt');
      expect(decodeJwt(token)).toMatchObject({ client_id: clientId, sub: clientId });
      expect(await registryStatus(clientId)).toEqual({ status: 200, code: undefined });
      expectAccepted('OE', await call('OE', token));
    }
  });

  it('refuses the access token of a citizen signed in to the passport app (a registered consumer): 403 NOT_A_CLIENT_TOKEN', async () => {
    const token = signedIn.accessToken;
    expect(decodeProtectedHeader(token).typ).toBe('at+jwt');
    expect(decodeJwt(token)).toMatchObject({
      iss: t.url('identity-provider'),
      aud: 'urn:ndx:api',
      client_id: 'passport-app',
      sub: amara.nic,
    });
    // The same client's own token is answered (the first test): only the kind of token differs.
    expect(await registryStatus('passport-app')).toEqual({ status: 200, code: undefined });

    const answer = await call('OE', token, PURPOSE);
    expect({ status: answer.status, code: answer.code }).toEqual({ status: 403, code: 'NOT_A_CLIENT_TOKEN' });
    expect(answer.message).toMatch(/issued for a signed-in user \(through client passport-app\)/);
    expect(answer.message).not.toContain(amara.nic);
    expect(Object.keys(answer.body)).toEqual(['errors']);
  });

  it('refuses the ID token FUDI issued at that sign-in: 401 UNAUTHENTICATED, the wrong token type', async () => {
    const { typ } = decodeProtectedHeader(signedIn.idToken);
    expect(typ).not.toBe('at+jwt');
    expect(decodeJwt(signedIn.idToken)).toMatchObject({
      iss: t.url('identity-provider'),
      aud: 'passport-app',
      sub: amara.nic,
    });
    const answer = await call('OE', signedIn.idToken, PURPOSE);
    expectRefused('OE', answer, /^invalid token: wrong token type \(typ .+, expected "at\+jwt"\)$/);
  });

  it('refuses the client token of a FUDI client of the NDX API that the PDP does not register: 403 UNKNOWN_CONSUMER', async () => {
    expect(decodeJwt(unregisteredToken)).toMatchObject({
      aud: 'urn:ndx:api',
      client_id: UNREGISTERED,
      sub: UNREGISTERED,
    });
    expect(await registryStatus(UNREGISTERED)).toEqual({ status: 404, code: 'UNKNOWN_CONSUMER' });
    const answer = await call('OE', unregisteredToken, PURPOSE);
    expect({ status: answer.status, code: answer.code }).toEqual({ status: 403, code: 'UNKNOWN_CONSUMER' });
    expect(answer.message).toBe(`client ${UNREGISTERED} is not a registered NDX consumer`);
    // NDX's own clients are no consumers either, and FUDI does not even issue them NDX API tokens.
    for (const clientId of ['orchestration-engine', 'ndx-operator']) {
      await expect(t.clientToken(clientId, 'urn:ndx:api')).rejects.toThrow(/400 invalid_target/);
      expect(await registryStatus(clientId)).toEqual({ status: 404, code: 'UNKNOWN_CONSUMER' });
    }
  });
});
