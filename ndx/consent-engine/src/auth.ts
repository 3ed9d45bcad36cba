import type { FastifyRequest } from 'fastify';
import { requireOperator, type OperatorPolicy, type TokenVerifier } from '@ndx/service-kit';
import { ClientNotAllowedError } from './errors.ts';

/** Who is calling the JSON API: a service (client credentials) or a citizen (user token, sub = NIC). */
export type ApiCaller = { kind: 'service'; clientId: string } | { kind: 'citizen'; citizenId: string };

export interface ApiAuthenticator {
  /** A service token of an allowed client; 401 without a valid token, 403 for another client. */
  service(request: FastifyRequest): Promise<{ kind: 'service'; clientId: string }>;
  /** A citizen token issued to an allowed (portal) client. */
  citizen(request: FastifyRequest): Promise<{ kind: 'citizen'; citizenId: string }>;
  /** Either. */
  any(request: FastifyRequest): Promise<ApiCaller>;
  /** An operator's token (admin scope, operator client) for the admin API; 401 without a valid token, else 403. */
  operator(request: FastifyRequest): Promise<{ kind: 'service'; clientId: string }>;
}

/**
 * Tokens are FUDI access tokens for the CE's audience. A token with a `sub` other than its
 * client id is a citizen's; otherwise it is the client's own (client credentials).
 */
export function createApiAuthenticator(
  verifier: TokenVerifier,
  serviceClients: readonly string[],
  citizenClients: readonly string[],
  operators: OperatorPolicy,
): ApiAuthenticator {
  const identify = async (request: FastifyRequest): Promise<ApiCaller> => {
    const token = await verifier.verifyAuthorizationHeader(request.headers.authorization);
    const clientId = token.clientId;
    const isUserToken = token.subject !== undefined && token.subject !== clientId;
    if (isUserToken) {
      if (!clientId || !citizenClients.includes(clientId))
        throw new ClientNotAllowedError(`client ${clientId ?? '(none)'}`);
      return { kind: 'citizen', citizenId: token.subject! };
    }
    if (!clientId || !serviceClients.includes(clientId))
      throw new ClientNotAllowedError(`client ${clientId ?? '(none)'}`);
    return { kind: 'service', clientId };
  };
  return {
    any: identify,
    operator: async (request) => {
      const token = await verifier.verifyAuthorizationHeader(request.headers.authorization);
      requireOperator(token, operators);
      return { kind: 'service', clientId: token.clientId! };
    },
    service: async (request) => {
      const caller = await identify(request);
      if (caller.kind !== 'service') throw new ClientNotAllowedError(`a citizen token`);
      return caller;
    },
    citizen: async (request) => {
      const caller = await identify(request);
      if (caller.kind !== 'citizen')
        throw new ClientNotAllowedError(`the service token of ${caller.clientId}`);
      return caller;
    },
  };
}
