import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoCitizens } from '@ndx/synthetic-data';
import { addFudiClient, ndxApiToken } from './support/consumer-onboarding.ts';
import { startTestStack, type TestStack } from './support/test-stack.ts';
import {
  acceptedToken,
  callWithToken,
  expectAccepted,
  expectRefused,
  signInToPassportApp,
  TOKEN_SERVICES as SERVICES,
  type TokenService as Service,
} from './support/tokens.ts';

/**
 * Every token check at the three services that verify FUDI tokens themselves: the OE (`POST /graphql`),
 * the PDP (`POST /v1/decisions`) and the CE (`POST /v1/consents/check`), with tokens FUDI really issued.
 * Each refusal is a 401 with the code UNAUTHENTICATED and the reason in the message, at all three. Forged
 * tokens (another key, no signature, HMAC with the public key, altered claims) are token-matrix.test.ts's.
 *
 * Then what only the OE checks: that the token is an access token (not an ID token), issued to a consumer
 * app by client credentials (not for a signed-in user), of a client the PDP registers as a consumer.
 */

/** FUDI's shortest access-token lifetime: this stack's tokens expire while the test waits. */
const TOKEN_TTL_SECONDS = 30;
/** The verifiers' clock tolerance (service-kit token-verifier). */
const CLOCK_TOLERANCE_SECONDS = 5;

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

/** A real FUDI token of a client the service would accept, but for another audience. */
const otherAudienceToken: Record<Service, () => Promise<string>> = {
  OE: () => t.clientToken('orchestration-engine', 'urn:ndx:pdp'),
  PDP: () => t.clientToken('passport-app', 'urn:ndx:api'),
  CE: () => t.clientToken('orchestration-engine', 'urn:ndx:pdp'),
};

describe('tokens the OE, PDP and CE refuse (401 UNAUTHENTICATED)', () => {
  it('accepts the token FUDI issues for each service (the control the refusals are measured against)', async () => {
    for (const service of SERVICES)
      expectAccepted(service, await callWithToken(t, service, await acceptedToken(t, service)));
  });

  it('refuses a request without a token', async () => {
    for (const service of SERVICES) {
      expectRefused(service, await callWithToken(t, service, null), /a bearer token is required/);
    }
  });

  it('refuses a real FUDI token for another audience', async () => {
    for (const service of SERVICES) {
      const token = await otherAudienceToken[service]();
      expect(decodeJwt(token).aud).not.toEqual(decodeJwt(await acceptedToken(t, service)).aud);
      expectRefused(service, await callWithToken(t, service, token), /claim aud rejected/);
    }
  });

  it(
    'refuses a token FUDI really issued once it has expired, after accepting that same token before',
    async () => {
      const tokens = Object.fromEntries(
        await Promise.all(SERVICES.map(async (s) => [s, await acceptedToken(t, s)] as const)),
      ) as Record<Service, string>;
      for (const service of SERVICES) {
        const { exp, iat } = decodeJwt(tokens[service]);
        expect(exp! - iat!).toBe(TOKEN_TTL_SECONDS);
        expectAccepted(service, await callWithToken(t, service, tokens[service]));
      }

      const latestExpiry = Math.max(...SERVICES.map((s) => decodeJwt(tokens[s]).exp!));
      const wait = (latestExpiry + CLOCK_TOLERANCE_SECONDS + 1) * 1000 - Date.now();
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, wait)));

      for (const service of SERVICES) {
        expectRefused(service, await callWithToken(t, service, tokens[service]), /invalid token: expired/);
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
    signedIn = await signInToPassportApp(t, amara);
    const secret = await addFudiClient(t, ['--id', UNREGISTERED, '--resource', 'urn:ndx:api']);
    unregisteredToken = await ndxApiToken(t, UNREGISTERED, secret!);
  }, 120_000);

  it('accepts the passport app’s and the traffic police app’s client tokens (sub = client_id, registered)', async () => {
    for (const clientId of ['passport-app', 'traffic-police-app']) {
      const token = await t.clientToken(clientId, 'urn:ndx:api');
      expect(decodeProtectedHeader(token).typ).toBe('at+jwt');
      expect(decodeJwt(token)).toMatchObject({ client_id: clientId, sub: clientId });
      expect(await registryStatus(clientId)).toEqual({ status: 200, code: undefined });
      expectAccepted('OE', await callWithToken(t, 'OE', token));
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

    const answer = await callWithToken(t, 'OE', token, PURPOSE);
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
    const answer = await callWithToken(t, 'OE', signedIn.idToken, PURPOSE);
    expectRefused('OE', answer, /^invalid token: wrong token type \(typ .+, expected "at\+jwt"\)$/);
  });

  it('refuses the client token of a FUDI client of the NDX API that the PDP does not register: 403 UNKNOWN_CONSUMER', async () => {
    expect(decodeJwt(unregisteredToken)).toMatchObject({
      aud: 'urn:ndx:api',
      client_id: UNREGISTERED,
      sub: UNREGISTERED,
    });
    expect(await registryStatus(UNREGISTERED)).toEqual({ status: 404, code: 'UNKNOWN_CONSUMER' });
    const answer = await callWithToken(t, 'OE', unregisteredToken, PURPOSE);
    expect({ status: answer.status, code: answer.code }).toEqual({ status: 403, code: 'UNKNOWN_CONSUMER' });
    expect(answer.message).toBe(`client ${UNREGISTERED} is not a registered NDX consumer`);
    // NDX's own clients are no consumers either, and FUDI does not even issue them NDX API tokens.
    for (const clientId of ['orchestration-engine', 'ndx-operator']) {
      await expect(t.clientToken(clientId, 'urn:ndx:api')).rejects.toThrow(/400 invalid_target/);
      expect(await registryStatus(clientId)).toEqual({ status: 404, code: 'UNKNOWN_CONSUMER' });
    }
  });
});
