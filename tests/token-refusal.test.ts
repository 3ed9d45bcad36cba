import { SignJWT, decodeJwt, decodeProtectedHeader, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from './support/test-stack.ts';

/**
 * Every token check at the three services that verify FUDI tokens themselves: the OE (`POST /graphql`),
 * the PDP (`POST /v1/decisions`) and the CE (`POST /v1/consents/check`). Each refusal is a 401 with the
 * code UNAUTHENTICATED and the reason in the message, at all three.
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
async function call(service: Service, token: string | null): Promise<Answer> {
  const { url, body } = request[service]();
  const response = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token !== null ? { authorization: `Bearer ${token}` } : {}),
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
