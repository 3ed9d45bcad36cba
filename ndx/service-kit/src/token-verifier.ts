import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors as joseErrors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { UnauthenticatedError } from './errors.ts';

export interface TokenVerifierOptions {
  /** Expected `iss`, exactly. */
  issuer: string;
  /** Expected `aud` (one of). */
  audience: string | string[];
  /** Defaults to `${issuer}/jwks`. */
  jwksUri?: string;
  /** Defaults to asymmetric algorithms only; `none` and HMAC are never accepted. */
  algorithms?: string[];
  clockToleranceSeconds?: number;
  /**
   * The JOSE `typ` header the token must carry, e.g. `at+jwt` for RFC 9068 access tokens (which refuses ID
   * tokens and other JWTs the issuer signs with the same keys); unset, any.
   */
  typ?: string;
  /** For tests that hold the key set themselves. */
  keySet?: JWTVerifyGetKey;
}

export interface VerifiedToken {
  subject: string | undefined;
  clientId: string | undefined;
  scopes: string[];
  claims: JWTPayload;
}

export interface TokenVerifier {
  /** Verifies a compact JWT; throws UnauthenticatedError (401) with the reason. */
  verify(token: string): Promise<VerifiedToken>;
  /** Verifies the token of an `Authorization: Bearer …` header value. */
  verifyAuthorizationHeader(header: string | undefined): Promise<VerifiedToken>;
}

const ASYMMETRIC = ['RS256', 'PS256', 'ES256', 'EdDSA', 'RS384', 'RS512', 'PS384', 'PS512', 'ES384'];

/**
 * Offline verification of FUDI access tokens: signature against FUDI's JWKS (fetched once,
 * cached, refetched when an unknown key id appears), issuer, audience, expiry with a small
 * clock tolerance, and an allow-list of asymmetric algorithms.
 */
export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  const keySet =
    options.keySet ??
    createRemoteJWKSet(new URL(options.jwksUri ?? `${options.issuer.replace(/\/$/, '')}/jwks`), {
      timeoutDuration: 5_000,
      cooldownDuration: 30_000,
      cacheMaxAge: 10 * 60_000,
    });
  const algorithms = (options.algorithms ?? ASYMMETRIC).filter((a) => a !== 'none' && !a.startsWith('HS'));

  const verify = async (token: string): Promise<VerifiedToken> => {
    try {
      const { payload } = await jwtVerify(token, keySet, {
        issuer: options.issuer,
        audience: options.audience,
        algorithms,
        clockTolerance: options.clockToleranceSeconds ?? 5,
        requiredClaims: ['exp'],
        ...(options.typ ? { typ: options.typ } : {}),
      });
      const scope = typeof payload.scope === 'string' ? payload.scope : '';
      return {
        subject: payload.sub,
        clientId: typeof payload.client_id === 'string' ? payload.client_id : undefined,
        scopes: scope ? scope.split(' ') : [],
        claims: payload,
      };
    } catch (err) {
      if (err instanceof joseErrors.JWTClaimValidationFailed && err.claim === 'typ') {
        throw new UnauthenticatedError(
          `invalid token: wrong token type (typ ${typOf(token)}, expected ${JSON.stringify(options.typ)})`,
        );
      }
      throw new UnauthenticatedError(`invalid token: ${reasonOf(err)}`);
    }
  };

  return {
    verify,
    verifyAuthorizationHeader: async (header) => {
      const match = header ? /^Bearer\s+([A-Za-z0-9\-_.~+/]+=*)$/i.exec(header.trim()) : null;
      if (!match) throw new UnauthenticatedError('a bearer token is required');
      return verify(match[1]!);
    },
  };
}

function typOf(token: string): string {
  const typ = decodeProtectedHeader(token).typ;
  return typ === undefined ? 'absent' : JSON.stringify(typ);
}

function reasonOf(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed)
    return `claim ${err.claim} rejected (${err.reason})`;
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'algorithm not allowed';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'signature does not verify';
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'signed by an unknown key';
  if (err instanceof joseErrors.JWKSTimeout) return 'key set could not be fetched in time';
  if (err instanceof joseErrors.JWTInvalid || err instanceof joseErrors.JWSInvalid) return 'malformed';
  return 'could not be verified';
}
