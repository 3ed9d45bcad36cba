import { z } from 'zod';
import { httpJson, type AccessTokenSource } from '@ndx/service-kit';

/** A provider field as PDP and CE know it. */
export interface FieldRef {
  providerKey: string;
  schemaId: string;
  field: string;
}

/** A field as the citizen is asked about it (display name and description from the PDP's field metadata). */
export interface DescribedField extends FieldRef {
  displayName?: string | undefined;
  description?: string | undefined;
}

export type FieldDecision = 'PERMIT' | 'DENY' | 'CONSENT_REQUIRED';

const decisionResponse = z.object({
  decisionId: z.string(),
  policyVersion: z.union([z.string(), z.number()]).transform(String),
  fields: z.array(
    z.object({
      providerKey: z.string(),
      schemaId: z.string(),
      field: z.string(),
      decision: z.enum(['PERMIT', 'DENY', 'CONSENT_REQUIRED']),
      policyIds: z.array(z.string()).default([]),
      displayName: z.string().optional(),
      description: z.string().optional(),
    }),
  ),
});

const checkResponse = z.object({
  covered: z.boolean(),
  consentId: z.string().nullish(),
  missingFields: z
    .array(z.object({ providerKey: z.string(), schemaId: z.string(), field: z.string() }))
    .default([]),
});

const createResponse = z.object({
  consentId: z.string(),
  status: z.string(),
  consentPortalUrl: z.string(),
});

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

/** The Policy Decision Point: one call per request, a decision per field. */
export function createPolicyClient(options: GateClientOptions) {
  return {
    decide: (request: {
      consumerId: string;
      purpose: string;
      subjectId: string | null;
      fields: FieldRef[];
    }) => authorizedPost(options, '/v1/decisions', request, decisionResponse),
  };
}
export type PolicyClient = ReturnType<typeof createPolicyClient>;

/** The Consent Engine: coverage checks and pending consent requests. */
export function createConsentClient(options: GateClientOptions) {
  return {
    check: (request: { citizenId: string; consumerId: string; purpose: string; fields: FieldRef[] }) =>
      authorizedPost(options, '/v1/consents/check', request, checkResponse),
    requestConsent: (request: {
      citizenId: string;
      consumerId: string;
      purpose: string;
      fields: FieldRef[];
    }) => authorizedPost(options, '/v1/consents', request, createResponse),
  };
}
export type ConsentClient = ReturnType<typeof createConsentClient>;
