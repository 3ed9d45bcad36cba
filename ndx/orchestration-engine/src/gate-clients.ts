import type { z } from 'zod';
import {
  consentApiPaths,
  consentCheckResponseSchema,
  consentCreateResponseSchema,
  policyApiPaths,
  policyDecisionResponseSchema,
  type consentRequestSchema,
  type PolicyDecisionRequest,
} from '@ndx/contract';
import { httpJson, type AccessTokenSource } from '@ndx/service-kit';

/** What the OE sends the CE to check coverage or open a consent request (the CE's schema, before parsing). */
type ConsentRequestBody = z.input<typeof consentRequestSchema>;

export interface GateClientOptions {
  baseUrl: string;
  tokens: AccessTokenSource;
  timeoutMs: number;
}

async function authorizedPost<T>(
  options: GateClientOptions,
  path: string,
  body: unknown,
  schema: z.ZodType<T>,
): Promise<T> {
  const call = async () =>
    httpJson(`${options.baseUrl}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${await options.tokens.getToken()}` },
      body,
      timeoutMs: options.timeoutMs,
    });
  let answer: unknown;
  try {
    answer = await call();
  } catch (err) {
    // A token revoked or rotated under us: fetch a new one and try once more.
    if ((err as { details?: { status?: number } }).details?.status !== 401) throw err;
    options.tokens.invalidate();
    answer = await call();
  }
  return schema.parse(answer);
}

/** The Policy Decision Point: one call per data subject, a decision per field. */
export function createPolicyClient(options: GateClientOptions) {
  return {
    decide: (request: PolicyDecisionRequest) =>
      authorizedPost(options, policyApiPaths.decisions, request, policyDecisionResponseSchema),
  };
}
export type PolicyClient = ReturnType<typeof createPolicyClient>;

/** The Consent Engine: coverage checks and pending consent requests. */
export function createConsentClient(options: GateClientOptions) {
  return {
    check: (request: ConsentRequestBody) =>
      authorizedPost(options, consentApiPaths.check, request, consentCheckResponseSchema),
    requestConsent: (request: ConsentRequestBody) =>
      authorizedPost(options, consentApiPaths.create, request, consentCreateResponseSchema),
  };
}
export type ConsentClient = ReturnType<typeof createConsentClient>;
