import {
  ACCESS_TOKEN_TYP,
  BadRequestError,
  createTokenVerifier,
  NdxError,
  UnauthenticatedError,
  type TokenVerifier,
  type TokenVerifierOptions,
  type VerifiedToken,
} from '@ndx/service-kit';
import type { RegisteredConsumer } from '@ndx/contract';
import type { ConsumerRegistry } from './consumer-registry.ts';
import { PURPOSE_PATTERN } from './fl-config.ts';

/** Who is asking, and why. */
export interface Consumer {
  consumerId: string;
  purpose: string;
}

/** The JOSE `typ` of an access token (RFC 9068): ID tokens and other JWTs FUDI signs are refused. */
export const ACCESS_TOKEN_TYPE = ACCESS_TOKEN_TYP;

/** A valid access token, but issued for a signed-in user, not to a consumer app by client credentials. */
export class NotAClientTokenError extends NdxError {
  constructor(clientId: string) {
    super(
      'NOT_A_CLIENT_TOKEN',
      `this access token was issued for a signed-in user (through client ${clientId}); NDX answers only ` +
        'tokens a consumer app obtains with its client credentials',
      403,
    );
  }
}

/** A client token, but of a client the PDP does not register as a consumer. */
export class UnknownConsumerError extends NdxError {
  constructor(clientId: string) {
    super('UNKNOWN_CONSUMER', `client ${clientId} is not a registered NDX consumer`, 403);
  }
}

/** The registry's answer the consumer verifier checked a token against, so the request asks the PDP once. */
const registrationOf = new WeakMap<VerifiedToken, RegisteredConsumer>();

/**
 * The verifier of consumers' tokens, in this order: a FUDI access token (`typ: at+jwt`, issuer,
 * audience, signature, expiry; else 401 UNAUTHENTICATED) that names its client; issued to that client
 * itself by client credentials, which FUDI marks with `sub` = `client_id` (a user's token carries the
 * user's subject: 403 NOT_A_CLIENT_TOKEN); of a client the PDP registers as a consumer (else 403
 * UNKNOWN_CONSUMER; 503 POLICY_UNAVAILABLE when the PDP cannot say).
 */
export function createConsumerTokenVerifier(
  options: Pick<TokenVerifierOptions, 'issuer' | 'audience' | 'jwksUri' | 'keySet'>,
  registry: ConsumerRegistry,
): TokenVerifier {
  const tokens = createTokenVerifier({ ...options, typ: ACCESS_TOKEN_TYPE });
  const checkConsumer = async (token: VerifiedToken): Promise<VerifiedToken> => {
    const clientId = token.clientId;
    if (!clientId)
      throw new UnauthenticatedError('the token names no client_id: only client tokens may query NDX');
    if (token.subject !== clientId) throw new NotAClientTokenError(clientId);
    const consumer = await registry.lookup(clientId);
    if (consumer === null) throw new UnknownConsumerError(clientId);
    registrationOf.set(token, consumer);
    return token;
  };
  return {
    verify: async (token) => checkConsumer(await tokens.verify(token)),
    verifyAuthorizationHeader: async (header) =>
      checkConsumer(await tokens.verifyAuthorizationHeader(header)),
  };
}

/**
 * Verifies the consumer's token with the consumer token verifier and settles the purpose: the
 * `NDX-Purpose` header, or the consumer's default purpose in the PDP's registry. There is no mode without a token.
 */
export async function authenticateConsumer(
  verifier: TokenVerifier,
  registry: ConsumerRegistry,
  authorization: string | undefined,
  purposeHeader: string | undefined,
): Promise<Consumer> {
  const token = await verifier.verifyAuthorizationHeader(authorization);
  const consumerId = token.clientId;
  if (!consumerId)
    throw new UnauthenticatedError('the token names no client_id: only client tokens may query NDX');
  const registered = registrationOf.get(token) ?? (await registry.lookup(consumerId));
  const purpose = purposeHeader?.trim() || registered?.defaultPurpose;
  if (!purpose) {
    throw new BadRequestError(
      `the NDX-Purpose header is required: consumer ${consumerId} has no default purpose`,
    );
  }
  if (!PURPOSE_PATTERN.test(purpose))
    throw new BadRequestError('the NDX-Purpose header is not a purpose code');
  return { consumerId, purpose };
}
