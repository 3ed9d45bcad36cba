import { createHash, createPublicKey, randomBytes } from 'node:crypto';
import {
  SignJWT,
  decodeJwt,
  decodeProtectedHeader,
  generateKeyPair,
  importJWK,
  type JWK,
  type JWTPayload,
} from 'jose';
import pg from 'pg';
import { expect } from 'vitest';
import { browse, CookieJar, submitFudiLogin } from '@ndx/identity-provider/testing-browser';
import type { TestStack } from './test-stack.ts';

/**
 * Calling the three services that verify FUDI tokens themselves, the OE (`POST /graphql`), the PDP
 * (`POST /v1/decisions`) and the CE (`POST /v1/consents/check`), with a token of the test's choosing; and
 * making the tokens: real ones from the stack's FUDI (client credentials, or a citizen's sign-in) and forged
 * ones (another key, no signature, HMAC with FUDI's public key, or FUDI's own key with altered claims).
 */

export type TokenService = 'OE' | 'PDP' | 'CE';
export const TOKEN_SERVICES: TokenService[] = ['OE', 'PDP', 'CE'];

export interface TokenAnswer {
  status: number;
  code: string | undefined;
  message: string;
  body: Record<string, unknown>;
}

/** The token each service accepts (the positive control), fresh from the stack's FUDI. */
export function acceptedToken(t: TestStack, service: TokenService): Promise<string> {
  switch (service) {
    case 'OE':
      return t.clientToken('passport-app', 'urn:ndx:api');
    case 'PDP':
      return t.clientToken('orchestration-engine', 'urn:ndx:pdp');
    case 'CE':
      return t.clientToken('orchestration-engine', 'urn:ndx:consent');
  }
}

const AMARA = '199560201234';
const RGD_NAME = { providerKey: 'rgd', schemaId: 'abc-212', field: 'getPersonInfo.fullName' };

function serviceRequest(t: TestStack, service: TokenService): { url: string; body: unknown } {
  switch (service) {
    case 'OE':
      return { url: `${t.url('orchestration-engine')}/graphql`, body: { query: '{ __typename }' } };
    case 'PDP':
      return {
        url: `${t.url('policy-decision-point')}/v1/decisions`,
        body: {
          consumerId: 'passport-app',
          purpose: 'passport-application',
          subjectId: AMARA,
          fields: [RGD_NAME],
        },
      };
    case 'CE':
      return {
        url: `${t.url('consent-engine')}/v1/consents/check`,
        body: {
          citizenId: AMARA,
          consumerId: 'passport-app',
          purpose: 'passport-application',
          fields: [RGD_NAME],
        },
      };
  }
}

/** Calls the service with the given bearer token (none when null); the OE's GraphQL error is unwrapped. */
export async function callWithToken(
  t: TestStack,
  service: TokenService,
  token: string | null,
  headers: Record<string, string> = {},
): Promise<TokenAnswer> {
  const { url, body } = serviceRequest(t, service);
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
export function expectAccepted(service: TokenService, answer: TokenAnswer): void {
  expect(answer.status, `${service} refused a valid token: ${answer.message}`).toBe(200);
  if (service === 'OE') expect(answer.body['data']).toEqual({ __typename: 'Query' });
  if (service === 'PDP')
    expect((answer.body['fields'] as { decision: string }[]).map((f) => f.decision)).toEqual([
      'CONSENT_REQUIRED',
    ]);
  if (service === 'CE') expect(answer.body['covered']).toBe(false);
}

/** 401 UNAUTHENTICATED with the reason in the message. */
export function expectRefused(service: TokenService, answer: TokenAnswer, reason: RegExp): void {
  expect({ service, status: answer.status, code: answer.code }).toEqual({
    service,
    status: 401,
    code: 'UNAUTHENTICATED',
  });
  expect(answer.message, service).toMatch(reason);
}

const base64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** An unsigned JWT (`alg: none`, empty signature) with these claims. */
export function unsignedToken(claims: JWTPayload): string {
  return `${base64url({ alg: 'none', typ: 'JWT' })}.${base64url(claims)}.`;
}

/** The real token's header and claims, signed with a fresh key of the test's own under FUDI's key id. */
export async function withForgedSignature(real: string): Promise<string> {
  const { privateKey } = await generateKeyPair('RS256');
  const { kid, typ } = decodeProtectedHeader(real);
  return new SignJWT(decodeJwt(real))
    .setProtectedHeader({ alg: 'RS256', ...(typ ? { typ } : {}), ...(kid ? { kid } : {}) })
    .sign(privateKey);
}

/** The key FUDI signs with, read from its database (the test owns this stack): to sign what FUDI never would. */
export interface FudiSigningKey {
  kid: string;
  sign: (claims: JWTPayload, header?: { typ?: string; alg?: string }) => Promise<string>;
  /** The public half in PEM (SPKI), as published in FUDI's JWKS: the "secret" of the HS256 confusion attack. */
  publicPem: string;
}

export async function fudiSigningKey(t: TestStack, kid: string): Promise<FudiSigningKey> {
  const pool = new pg.Pool({ connectionString: t.databaseUrl('ndx_identity'), max: 1 });
  try {
    const { rows } = await pool.query<{ private_jwk: JWK }>(
      'SELECT private_jwk FROM signing_keys WHERE kid = $1',
      [kid],
    );
    const jwk = rows[0]?.private_jwk;
    if (!jwk) throw new Error(`FUDI has no signing key ${kid}`);
    const privateKey = await importJWK(jwk, 'RS256');
    const publicPem = createPublicKey({ key: jwk, format: 'jwk' })
      .export({ type: 'spki', format: 'pem' })
      .toString();
    return {
      kid,
      publicPem,
      sign: (claims, header = {}) =>
        new SignJWT(claims)
          .setProtectedHeader({ alg: header.alg ?? 'RS256', typ: header.typ ?? 'at+jwt', kid })
          .sign(privateKey),
    };
  } finally {
    await pool.end();
  }
}

/** The claims HS256-signed with FUDI's public key (PEM) as the HMAC secret, under FUDI's key id. */
export function hmacWithPublicKey(key: FudiSigningKey, claims: JWTPayload): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt', kid: key.kid })
    .sign(new TextEncoder().encode(key.publicPem));
}

/**
 * A citizen signs in to the passport app on FUDI's real login page (authorization code + PKCE; the app is a
 * confidential client), and the app redeems the code: the access token (for the NDX API, the client's one
 * resource) and the ID token FUDI returns.
 */
export async function signInToPassportApp(
  t: TestStack,
  citizen: { nic: string; password: string },
): Promise<{ accessToken: string; idToken: string }> {
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
  const landing = await submitFudiLogin(jar, login, citizen.nic, citizen.password, stopAt);
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
