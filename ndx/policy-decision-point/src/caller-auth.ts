import type { FastifyRequest } from 'fastify';
import {
  ForbiddenError,
  isListedClient,
  requireOperator,
  type TokenVerifier,
  type VerifiedToken,
} from '@ndx/service-kit';

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
  const operators = { clients: options.adminClients, scope: options.adminScope };
  return {
    async decisionCaller(request) {
      const token = await verifier.verifyAuthorizationHeader(request.headers.authorization);
      if (!isListedClient(options.decisionClients, token.clientId)) {
        throw new ForbiddenError(`client ${token.clientId ?? '(none)'} may not ask for policy decisions`);
      }
      request.caller = token;
    },
    async operator(request) {
      const token = await verifier.verifyAuthorizationHeader(request.headers.authorization);
      requireOperator(token, operators);
      request.caller = token;
    },
  };
}
