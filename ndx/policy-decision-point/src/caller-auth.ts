import type { FastifyRequest } from 'fastify';
import { ForbiddenError, type TokenVerifier, type VerifiedToken } from '@ndx/service-kit';

declare module 'fastify' {
  interface FastifyRequest {
    caller?: VerifiedToken;
  }
}

export interface CallerAuth {
  /** A FUDI service token for the PDP from a client allowed to ask for decisions. */
  decisionCaller(request: FastifyRequest): Promise<void>;
  /** A FUDI token for the PDP with the admin scope, from an operator client. */
  operator(request: FastifyRequest): Promise<void>;
}

/** Missing or invalid tokens are 401 (from the verifier); valid tokens of the wrong client or scope are 403. */
export function createCallerAuth(
  verifier: TokenVerifier,
  options: { decisionClients: string[]; adminClients: string[]; adminScope: string },
): CallerAuth {
  const allowed = (list: string[], clientId: string | undefined) =>
    list.includes('*') || (clientId !== undefined && list.includes(clientId));
  return {
    async decisionCaller(request) {
      const token = await verifier.verifyAuthorizationHeader(request.headers.authorization);
      if (!allowed(options.decisionClients, token.clientId)) {
        throw new ForbiddenError(`client ${token.clientId ?? '(none)'} may not ask for policy decisions`);
      }
      request.caller = token;
    },
    async operator(request) {
      const token = await verifier.verifyAuthorizationHeader(request.headers.authorization);
      if (!token.scopes.includes(options.adminScope)) {
        throw new ForbiddenError(`the admin API needs a token with scope ${options.adminScope}`);
      }
      if (!allowed(options.adminClients, token.clientId)) {
        throw new ForbiddenError(`client ${token.clientId ?? '(none)'} is not an operator client`);
      }
      request.caller = token;
    },
  };
}
