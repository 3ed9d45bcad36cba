import { UnauthenticatedError, BadRequestError, type TokenVerifier } from '@ndx/service-kit';
import { PURPOSE_PATTERN, type FlConfig } from './fl-config.ts';

/** Who is asking, and why. */
export interface Consumer {
  consumerId: string;
  purpose: string;
}

/**
 * Verifies the consumer's FUDI access token (audience: the NDX API) and settles the purpose: the
 * `NDX-Purpose` header, or the consumer's default purpose from fl-config. There is no mode without a token.
 */
export async function authenticateConsumer(
  verifier: TokenVerifier,
  config: FlConfig,
  authorization: string | undefined,
  purposeHeader: string | undefined,
): Promise<Consumer> {
  const token = await verifier.verifyAuthorizationHeader(authorization);
  const consumerId = token.clientId;
  if (!consumerId)
    throw new UnauthenticatedError('the token names no client_id: only client tokens may query NDX');
  const purpose = purposeHeader?.trim() || config.consumers[consumerId]?.defaultPurpose;
  if (!purpose) {
    throw new BadRequestError(
      `the NDX-Purpose header is required: consumer ${consumerId} has no default purpose`,
    );
  }
  if (!PURPOSE_PATTERN.test(purpose))
    throw new BadRequestError('the NDX-Purpose header is not a purpose code');
  return { consumerId, purpose };
}
