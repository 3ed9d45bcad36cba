import { NdxError } from '@ndx/service-kit';

/** Why a call to the legacy system failed. */
export type ProviderFailure = 'timeout' | 'unreachable' | 'status' | 'fault' | 'invalid-response';

export interface ProviderErrorDetails extends Record<string, unknown> {
  /** The upstream source's name (e.g. `drp-api`). */
  source: string;
  reason: ProviderFailure;
  /** The HTTP status the legacy system answered with, when it answered. */
  upstreamStatus?: number;
  /** The SOAP fault code, for SOAP faults. */
  faultCode?: string;
}

/** The legacy system failed (5xx, timeout, unreachable, unusable answer): GraphQL `PROVIDER_ERROR`, never a silent null. */
export class ProviderError extends NdxError {
  declare readonly details: ProviderErrorDetails;
  constructor(message: string, details: ProviderErrorDetails) {
    super('PROVIDER_ERROR', message, 502, details);
  }
}

/** An argument the caller sent is malformed: GraphQL `BAD_USER_INPUT`. */
export class BadUserInputError extends NdxError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('BAD_USER_INPUT', message, 400, details);
  }
}
