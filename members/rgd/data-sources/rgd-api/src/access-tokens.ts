import { randomUUID } from 'node:crypto';
import { SignJWT, errors as joseErrors, jwtVerify } from 'jose';
import { UnauthenticatedError } from '@ndx/service-kit';
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
      try {
        const { payload } = await jwtVerify(token, key.publicKey, {
          issuer,
          audience: RGD_AUDIENCE,
          algorithms: [key.alg],
          typ: 'at+jwt',
          currentDate: clock(),
          clockTolerance: 5,
          requiredClaims: ['exp', 'iat', 'client_id'],
        });
        const scope = typeof payload.scope === 'string' ? payload.scope : '';
        return { clientId: String(payload.client_id), scopes: scope ? scope.split(' ') : [] };
      } catch (err) {
        throw new UnauthenticatedError(`invalid access token: ${reasonOf(err)}`);
      }
    },
  };
}

function reasonOf(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'expired';
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'algorithm not allowed';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'signature does not verify';
  if (err instanceof joseErrors.JWTClaimValidationFailed)
    return `claim ${err.claim} rejected (${err.reason})`;
  if (err instanceof joseErrors.JWTInvalid || err instanceof joseErrors.JWSInvalid) return 'malformed';
  return 'could not be verified';
}
