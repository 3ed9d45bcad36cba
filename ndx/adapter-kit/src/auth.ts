import { apiKeyMatches, createTokenVerifier, ForbiddenError, UnauthenticatedError } from '@ndx/service-kit';

/** Who called the adapter, as far as inbound auth could tell. */
export interface Caller {
  method: 'api-key' | 'jwt';
  /** The token's client_id (JWT mode). */
  clientId?: string;
}

/** How the adapter authenticates NDX; throws UnauthenticatedError (401) or ForbiddenError (403). */
export interface InboundAuth {
  readonly method: 'api-key' | 'jwt';
  /** `WWW-Authenticate` value for 401 answers. */
  readonly challenge: string;
  authenticate(headers: Record<string, string | string[] | undefined>): Promise<Caller>;
}

export interface ApiKeyAuthOptions {
  /** Header carrying the key (default `x-api-key`). */
  header?: string;
  /** Accepted keys (several during a rotation); compared in constant time. */
  keys: readonly string[];
}

/** Inbound auth by a shared API key in a header. */
export function apiKeyAuth(options: ApiKeyAuthOptions): InboundAuth {
  const header = (options.header ?? 'x-api-key').toLowerCase();
  const keys = options.keys.filter((k) => k.length > 0);
  if (keys.length === 0) throw new Error('apiKeyAuth needs at least one non-empty key');
  return {
    method: 'api-key',
    challenge: `ApiKey header="${header}"`,
    async authenticate(headers) {
      const value = headers[header];
      const presented = Array.isArray(value) ? value[0] : value;
      if (!presented) throw new UnauthenticatedError(`the ${header} header is required`);
      if (!apiKeyMatches(presented, keys))
        throw new UnauthenticatedError(`the ${header} header is not valid`);
      return { method: 'api-key' };
    },
  };
}

export interface JwtAuthOptions {
  /** FUDI issuer, e.g. http://127.0.0.1:9443 */
  issuer: string;
  /** The adapter's resource indicator, e.g. urn:dmt:vehicles */
  audience: string;
  /** Defaults to `${issuer}/jwks`. */
  jwksUri?: string;
  /** When set, only these client_ids are let in. */
  allowedClientIds?: readonly string[];
}

/** Inbound auth by a FUDI access token (JWT) verified offline against FUDI's JWKS. */
export function jwtAuth(options: JwtAuthOptions): InboundAuth {
  const verifier = createTokenVerifier({
    issuer: options.issuer,
    audience: options.audience,
    ...(options.jwksUri ? { jwksUri: options.jwksUri } : {}),
  });
  return {
    method: 'jwt',
    challenge: `Bearer resource="${options.audience}"`,
    async authenticate(headers) {
      const value = headers['authorization'];
      const token = await verifier.verifyAuthorizationHeader(Array.isArray(value) ? value[0] : value);
      if (options.allowedClientIds && !options.allowedClientIds.includes(token.clientId ?? '')) {
        throw new ForbiddenError(`client ${token.clientId ?? '(none)'} may not call this adapter`);
      }
      return { method: 'jwt', ...(token.clientId ? { clientId: token.clientId } : {}) };
    },
  };
}
