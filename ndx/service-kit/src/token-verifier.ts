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
  /**
   * Where verified tokens are kept until they expire (see VerifiedTokenCache); by default a cache of this
   * verifier's own with DEFAULT_TOKEN_CACHE_ENTRIES entries. `false`: verify every token from scratch.
   */
  cache?: VerifiedTokenCache | false;
  /** The clock in ms since the epoch (tests); default Date.now. */
  now?: () => number;
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

/** The JOSE `typ` of an access token (RFC 9068): what a resource server requires to refuse ID tokens and other JWTs. */
export const ACCESS_TOKEN_TYP = 'at+jwt';

const ASYMMETRIC = ['RS256', 'PS256', 'ES256', 'EdDSA', 'RS384', 'RS512', 'PS384', 'PS512', 'ES384'];

/** How many verified tokens a verifier keeps by default (each about 2 KB: token text and claims). */
export const DEFAULT_TOKEN_CACHE_ENTRIES = 5_000;

/** A token whose signature was verified, and what a later use must check again. */
interface CachedToken {
  verified: VerifiedToken;
  /** The token's `exp` in ms: the entry is never used at or after it. */
  expiresAtMs: number;
  /** The token's `nbf` in ms, if any. */
  notBeforeMs: number | undefined;
  alg: string;
  typ: string | undefined;
}

/**
 * Verified tokens, keyed by the token text, least recently used dropped first. Only a token whose signature
 * and claims verified is ever put here, so a forged or altered token (different text) is never found. An entry
 * keeps what was verified, not the verifier's requirements: every use checks issuer, audience, algorithm, typ,
 * nbf and exp again against the verifier that uses it and its clock, so a cache may be shared by verifiers with
 * different requirements. A token whose signing key FUDI has since removed stays accepted until its `exp`.
 */
export class VerifiedTokenCache {
  private readonly entries = new Map<string, CachedToken>();
  readonly maxEntries: number;

  constructor(maxEntries = DEFAULT_TOKEN_CACHE_ENTRIES) {
    this.maxEntries = Math.max(1, Math.floor(maxEntries));
  }

  /** The entry for `token`, now the most recently used; an expired one is dropped instead. */
  get(token: string, nowMs: number): CachedToken | undefined {
    const entry = this.entries.get(token);
    if (!entry) return undefined;
    this.entries.delete(token);
    if (nowMs >= entry.expiresAtMs) return undefined;
    this.entries.set(token, entry);
    return entry;
  }

  set(token: string, entry: CachedToken): void {
    this.entries.delete(token);
    this.entries.set(token, entry);
    while (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }

  get size(): number {
    return this.entries.size;
  }
}

/**
 * Offline verification of FUDI access tokens: signature against FUDI's JWKS (fetched once,
 * cached, refetched when an unknown key id appears), issuer, audience, expiry with a small
 * clock tolerance, and an allow-list of asymmetric algorithms. A token verified once is kept (bounded,
 * VerifiedTokenCache) until its `exp`, so its signature is not verified again on every request; each use
 * still checks its claims against this verifier and the clock.
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
  const clockTolerance = options.clockToleranceSeconds ?? 5;
  const now = options.now ?? Date.now;
  const cache =
    options.cache === false
      ? undefined
      : (options.cache ?? new VerifiedTokenCache(DEFAULT_TOKEN_CACHE_ENTRIES));
  const audiences = new Set(Array.isArray(options.audience) ? options.audience : [options.audience]);

  /** What jwtVerify would check of an already verified token, against this verifier and the clock now. */
  const stillValid = (entry: CachedToken, nowMs: number): boolean => {
    const { claims } = entry.verified;
    const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    return (
      claims.iss === options.issuer &&
      aud.some((a) => a !== undefined && audiences.has(a)) &&
      algorithms.includes(entry.alg) &&
      (!options.typ || normalizeTyp(entry.typ) === normalizeTyp(options.typ)) &&
      nowMs < entry.expiresAtMs &&
      (entry.notBeforeMs === undefined || entry.notBeforeMs <= nowMs + clockTolerance * 1000)
    );
  };

  const verify = async (token: string): Promise<VerifiedToken> => {
    const nowMs = now();
    const cached = cache?.get(token, nowMs);
    // Anything a cached entry does not satisfy is verified from scratch, which gives the refusal its reason.
    if (cached && stillValid(cached, nowMs)) return cached.verified;
    try {
      const { payload, protectedHeader } = await jwtVerify(token, keySet, {
        issuer: options.issuer,
        audience: options.audience,
        algorithms,
        clockTolerance,
        requiredClaims: ['exp'],
        currentDate: new Date(nowMs),
        ...(options.typ ? { typ: options.typ } : {}),
      });
      // jose checks `iat` only with maxTokenAge: a token issued in the future is not valid yet either.
      if (typeof payload.iat === 'number' && payload.iat * 1000 > nowMs + clockTolerance * 1000) {
        throw new joseErrors.JWTClaimValidationFailed(
          '"iat" claim timestamp check failed (it should be in the past)',
          payload,
          'iat',
          'check_failed',
        );
      }
      const scope = typeof payload.scope === 'string' ? payload.scope : '';
      const verified: VerifiedToken = {
        subject: payload.sub,
        clientId: typeof payload.client_id === 'string' ? payload.client_id : undefined,
        scopes: scope ? scope.split(' ') : [],
        claims: payload,
      };
      cache?.set(token, {
        verified,
        expiresAtMs: payload.exp! * 1000,
        notBeforeMs: typeof payload.nbf === 'number' ? payload.nbf * 1000 : undefined,
        alg: protectedHeader.alg,
        typ: protectedHeader.typ,
      });
      return verified;
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

/** jose's comparison of `typ` values: case-insensitive, `application/` optional. */
function normalizeTyp(typ: string | undefined): string | undefined {
  const lower = typ?.toLowerCase();
  return lower?.startsWith('application/') ? lower.slice('application/'.length) : lower;
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
