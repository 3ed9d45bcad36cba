import { randomUUID } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { citizenAccessToken } from '@ndx/identity-provider/testing-browser';
import { demoCitizens } from '@ndx/synthetic-data';
import { startTestStack, type TestStack } from './support/test-stack.ts';
import {
  acceptedToken,
  callWithToken,
  expectAccepted,
  fudiSigningKey,
  hmacWithPublicKey,
  signInToPassportApp,
  TOKEN_SERVICES,
  unsignedToken,
  withForgedSignature,
  type FudiSigningKey,
  type TokenService,
} from './support/tokens.ts';

/**
 * The token matrix: each kind of bad token, at each of the three services that verify FUDI tokens themselves
 * (the OE's `POST /graphql`, the PDP's `POST /v1/decisions`, the CE's `POST /v1/consents/check`), with the
 * status and code each must answer: 401 UNAUTHENTICATED when the token is not a valid token for that service,
 * 403 when it is genuine but its holder may not use the endpoint.
 *
 * Claims FUDI would never sign (expired, not yet valid, another issuer, another audience, another client) are
 * signed with FUDI's own signing key, read from the stack's identity database: the signature verifies, so each
 * refusal is the claim check's. The first case proves it: the same forging with nothing altered is accepted.
 * Tokens FUDI really issued (to a citizen signing in) are token-refusal.test.ts's subject at the OE; here they
 * go to all three.
 */

/** What a service must answer to a token: accepted (its normal answer), or refused with status, code and reason. */
type Expected = 'accepted' | { status: 401 | 403; code: string; reason: RegExp };
type Row = Record<TokenService, Expected>;

const unauthenticated = (reason: RegExp): Expected => ({ status: 401, code: 'UNAUTHENTICATED', reason });
const everywhere = (expected: Expected): Row => ({ OE: expected, PDP: expected, CE: expected });

const amara = demoCitizens.find((c) => c.nic === '199560201234')!;
const now = () => Math.floor(Date.now() / 1000);

let t: TestStack;
let key: FudiSigningKey;
/** The claims of the token each service accepts, as FUDI issued them. */
const realClaims = {} as Record<TokenService, JWTPayload>;

beforeAll(async () => {
  t = await startTestStack({ only: ['orchestration-engine'] });
  for (const service of TOKEN_SERVICES) realClaims[service] = decodeJwt(await acceptedToken(t, service));
  const { kid } = decodeProtectedHeader(await acceptedToken(t, 'OE'));
  key = await fudiSigningKey(t, kid!);
}, 240_000);

afterAll(async () => {
  await t?.stop();
});

/** The service's real claims, fresh (new jti, issued now, valid 5 minutes), with `changes` applied. */
function claimsFor(service: TokenService, changes: JWTPayload = {}): JWTPayload {
  return { ...realClaims[service], jti: randomUUID(), iat: now(), exp: now() + 300, ...changes };
}

/** Sends each service its token and checks the answer against the row. */
async function expectRow(row: Row, tokenFor: (service: TokenService) => Promise<string>): Promise<void> {
  for (const service of TOKEN_SERVICES) {
    const answer = await callWithToken(t, service, await tokenFor(service));
    const expected = row[service];
    if (expected === 'accepted') {
      expectAccepted(service, answer);
      continue;
    }
    expect({ service, status: answer.status, code: answer.code }).toEqual({
      service,
      status: expected.status,
      code: expected.code,
    });
    expect(answer.message, service).toMatch(expected.reason);
    if (service === 'OE') expect(Object.keys(answer.body), 'no data beside the error').toEqual(['errors']);
  }
}

describe('the token matrix: forged and altered tokens at the OE, PDP and CE', () => {
  it('accepts a copy of each service’s real token re-signed with FUDI’s key (the control: forging itself works)', async () => {
    await expectRow(everywhere('accepted'), (s) => key.sign(claimsFor(s)));
  });

  it('refuses a token with FUDI’s claims and key id but another key’s signature: 401', async () => {
    await expectRow(everywhere(unauthenticated(/signature does not verify/)), async (s) =>
      withForgedSignature(await key.sign(claimsFor(s))),
    );
  });

  it('refuses an unsigned token (alg none) with the service’s claims: 401', async () => {
    await expectRow(everywhere(unauthenticated(/algorithm not allowed/)), async (s) =>
      unsignedToken(claimsFor(s)),
    );
  });

  it('refuses an HS256 token whose HMAC secret is FUDI’s public key: 401', async () => {
    const published = (await (await fetch(`${t.url('identity-provider')}/jwks`)).json()) as {
      keys: { kid: string }[];
    };
    expect(published.keys.map((k) => k.kid)).toContain(key.kid);
    await expectRow(everywhere(unauthenticated(/algorithm not allowed/)), (s) =>
      hmacWithPublicKey(key, claimsFor(s)),
    );
  });

  it('refuses an expired token (exp a minute ago, beyond the 5 s tolerance): 401', async () => {
    await expectRow(everywhere(unauthenticated(/invalid token: expired/)), (s) =>
      key.sign(claimsFor(s, { iat: now() - 360, exp: now() - 60 })),
    );
  });

  it('refuses a token not valid before two minutes from now (nbf): 401', async () => {
    await expectRow(everywhere(unauthenticated(/claim nbf rejected/)), (s) =>
      key.sign(claimsFor(s, { nbf: now() + 120 })),
    );
  });

  it('refuses a token issued two minutes in the future (iat): 401', async () => {
    await expectRow(everywhere(unauthenticated(/claim iat rejected/)), (s) =>
      key.sign(claimsFor(s, { iat: now() + 120, exp: now() + 420 })),
    );
  });

  it('refuses a token of another issuer, and of FUDI’s issuer with a trailing slash: 401', async () => {
    const issuer = t.url('identity-provider');
    for (const iss of ['https://fudi.example.org', `${issuer}/`]) {
      await expectRow(everywhere(unauthenticated(/claim iss rejected/)), (s) =>
        key.sign(claimsFor(s, { iss })),
      );
    }
  });

  it('refuses a token for another audience: 401', async () => {
    await expectRow(everywhere(unauthenticated(/claim aud rejected/)), (s) =>
      key.sign(claimsFor(s, { aud: 'urn:ndx:elsewhere' })),
    );
  });

  it('refuses a JWT FUDI signed for the service’s audience that is not an access token (typ JWT): 401', async () => {
    await expectRow(everywhere(unauthenticated(/wrong token type/)), (s) =>
      key.sign(claimsFor(s), { typ: 'JWT' }),
    );
  });

  it('refuses another client’s token for the service’s own audience: 403 at each', async () => {
    // A client the service does not serve, with a token that names the service as its audience.
    const otherClient: Record<TokenService, string> = {
      OE: 'orchestration-engine', // an NDX service, not a consumer
      PDP: 'passport-app', // a consumer asking the PDP directly
      CE: 'passport-app', // a consumer asking the CE directly
    };
    await expectRow(
      {
        OE: {
          status: 403,
          code: 'UNKNOWN_CONSUMER',
          reason: /client orchestration-engine is not a registered/,
        },
        PDP: {
          status: 403,
          code: 'FORBIDDEN',
          reason: /client passport-app may not ask for policy decisions/,
        },
        CE: { status: 403, code: 'CLIENT_NOT_ALLOWED', reason: /client passport-app may not use this API/ },
      },
      (s) => key.sign(claimsFor(s, { client_id: otherClient[s], sub: otherClient[s] })),
    );
  });

  it('refuses the real PDP token of the operators’ client at the decision endpoint: 403', async () => {
    const operator = await t.clientToken('ndx-operator', 'urn:ndx:pdp');
    expect(decodeJwt(operator)).toMatchObject({ aud: 'urn:ndx:pdp', client_id: 'ndx-operator' });
    const answer = await callWithToken(t, 'PDP', operator);
    expect({ status: answer.status, code: answer.code }).toEqual({ status: 403, code: 'FORBIDDEN' });
    expect(answer.message).toBe('client ndx-operator may not ask for policy decisions');
  });
});

describe('the token matrix: what FUDI really issues to a signed-in citizen', () => {
  let portalToken: string;
  let signedIn: { accessToken: string; idToken: string };

  beforeAll(async () => {
    portalToken = await citizenAccessToken({
      issuer: t.url('identity-provider'),
      clientId: 'consent-portal',
      redirectUri: `${t.url('consent-engine')}/auth/callback`,
      nic: amara.nic,
      password: amara.password,
    });
    signedIn = await signInToPassportApp(t, amara);
  }, 120_000);

  it('refuses a citizen’s consent-portal token: 401 at the OE and PDP (its audience is the CE), 403 at the CE', async () => {
    expect(decodeProtectedHeader(portalToken).typ).toBe('at+jwt');
    expect(decodeJwt(portalToken)).toMatchObject({
      aud: 'urn:ndx:consent',
      client_id: 'consent-portal',
      sub: amara.nic,
    });
    await expectRow(
      {
        OE: unauthenticated(/claim aud rejected/),
        PDP: unauthenticated(/claim aud rejected/),
        CE: { status: 403, code: 'CLIENT_NOT_ALLOWED', reason: /^a citizen token may not use this API$/ },
      },
      async () => portalToken,
    );
  });

  it('refuses a citizen’s access token from signing in to a consumer app: 403 at the OE, 401 at the PDP and CE', async () => {
    expect(decodeJwt(signedIn.accessToken)).toMatchObject({ aud: 'urn:ndx:api', sub: amara.nic });
    await expectRow(
      {
        OE: { status: 403, code: 'NOT_A_CLIENT_TOKEN', reason: /issued for a signed-in user/ },
        PDP: unauthenticated(/claim aud rejected/),
        CE: unauthenticated(/claim aud rejected/),
      },
      async () => signedIn.accessToken,
    );
  });

  it('refuses the ID token of that sign-in at all three: 401, the wrong token type', async () => {
    expect(decodeProtectedHeader(signedIn.idToken).typ).not.toBe('at+jwt');
    await expectRow(everywhere(unauthenticated(/wrong token type/)), async () => signedIn.idToken);
  });
});
