import { ForbiddenError } from './errors.ts';
import type { VerifiedToken } from './token-verifier.ts';

/** Who may use a service's admin API: these client ids (`*` for any), with a token carrying this scope. */
export interface OperatorPolicy {
  clients: readonly string[];
  scope: string;
}

/** True when the client is in the list (or the list allows any client with `*`). */
export function isListedClient(list: readonly string[], clientId: string | undefined): boolean {
  return list.includes('*') || (clientId !== undefined && list.includes(clientId));
}

/**
 * The one rule for every admin API: a verified token with the admin scope, from an operator client.
 * A missing or invalid token is the verifier's 401; a valid token without the scope or of another client is 403.
 */
export function requireOperator(token: VerifiedToken, policy: OperatorPolicy): void {
  if (!token.scopes.includes(policy.scope)) {
    throw new ForbiddenError(`the admin API needs a token with scope ${policy.scope}`);
  }
  if (!isListedClient(policy.clients, token.clientId)) {
    throw new ForbiddenError(`client ${token.clientId ?? '(none)'} is not an operator client`);
  }
}
