import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { createTokenVerifier, UnauthenticatedError } from '@ndx/service-kit';
import type { SigningKey } from './signing-key.ts';

/** `aud` of every RGD access token: the RGD GraphQL API. */
export const RGD_AUDIENCE = 'urn:rgd:graphql';

export interface AccessTokenOptions {
  key: SigningKey;
  issuer: string;
  ttlSeconds: number;
  clock: () => Date;
}

export interface IssuedToken {
  accessToken: string;
  expiresIn: number;
  scope: string;
}

export interface AccessTokens {
  issue(clientId: string, scopes: string[]): Promise<IssuedToken>;
  /** Verifies a token RGD issued; throws UnauthenticatedError with the reason. */
  verify(token: string): Promise<{ clientId: string; scopes: string[] }>;
}

/** Issues and verifies RGD's JWT access tokens (ES256 only: `none` and HMAC are never accepted). */
export function createAccessTokens(options: AccessTokenOptions): AccessTokens {
  const { key, issuer, ttlSeconds, clock } = options;
  // The kit's verifier: ES256 only, typ at+jwt, and a bounded cache of verified tokens until their exp.
  const verifier = createTokenVerifier({
    issuer,
    audience: RGD_AUDIENCE,
    algorithms: [key.alg],
    typ: 'at+jwt',
    keySet: async () => key.publicKey,
    now: () => clock().getTime(),
    clockToleranceSeconds: 5,
  });
  return {
    issue: async (clientId, scopes) => {
      const now = Math.floor(clock().getTime() / 1000);
      const scope = scopes.join(' ');
      const accessToken = await new SignJWT({ client_id: clientId, scope })
        .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'at+jwt' })
        .setIssuer(issuer)
        .setAudience(RGD_AUDIENCE)
        .setSubject(clientId)
        .setIssuedAt(now)
        .setExpirationTime(now + ttlSeconds)
        .setJti(randomUUID())
        .sign(key.privateKey);
      return { accessToken, expiresIn: ttlSeconds, scope };
    },
    verify: async (token) => {
      const verified = await verifier.verify(token);
      if (typeof verified.claims.iat !== 'number' || verified.clientId === undefined)
        throw new UnauthenticatedError('invalid token: claim iat or client_id missing');
      return { clientId: verified.clientId, scopes: verified.scopes };
    },
  };
}
