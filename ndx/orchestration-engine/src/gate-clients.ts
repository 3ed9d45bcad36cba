import type { z } from 'zod';
import {
  decisionTablePath,
  decisionTablePaths,
  decisionTableSchema,
  policyChangeSchema,
  consentApiPaths,
  consentCheckBatchResponseSchema,
  consentCreateResponseSchema,
  policyApiPaths,
  policyDecisionResponseSchema,
  type consentRequestSchema,
  type PolicyDecisionRequest,
  type PolicyDecisionResponse,
  type SubjectPresence,
} from '@ndx/contract';
import { httpJson, type AccessTokenSource } from '@ndx/service-kit';
import { createConsentCheckBatcher } from './consent-check-batcher.ts';

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
  call: { method?: 'GET'; timeoutMs?: number } = {},
): Promise<T> {
  const once = async () =>
    httpJson(`${options.baseUrl}${path}`, {
      method: call.method ?? 'POST',
      headers: { authorization: `Bearer ${await options.tokens.getToken()}` },
      body,
      timeoutMs: call.timeoutMs ?? options.timeoutMs,
    });
  let answer: unknown;
  try {
    answer = await once();
  } catch (err) {
    // A token revoked or rotated under us: fetch a new one and try once more.
    if ((err as { details?: { status?: number } }).details?.status !== 401) throw err;
    options.tokens.invalidate();
    answer = await once();
  }
  return schema.parse(answer);
}

/** What gating asks the PDP: a decision per field for one consumer, purpose and data subject. */
export interface PolicyClient {
  decide(request: PolicyDecisionRequest): Promise<PolicyDecisionResponse>;
}

/** The Policy Decision Point: per-request decisions, decision tables and the policy change feed. */
export function createPolicyClient(options: GateClientOptions) {
  return {
    decide: (request: PolicyDecisionRequest) =>
      authorizedPost(options, policyApiPaths.decisions, request, policyDecisionResponseSchema),
    table: (consumerId: string, purpose: string, subject: SubjectPresence) =>
      authorizedPost(
        options,
        decisionTablePath(consumerId, purpose, subject),
        undefined,
        decisionTableSchema,
        {
          method: 'GET',
        },
      ),
    /** One long poll of the change feed; it may be held up to the PDP's holdMs, so it gets that much longer. */
    changes: (subscriber: string, version: number | undefined, holdMs: number) =>
      authorizedPost(
        options,
        `${decisionTablePaths.changes}?subscriber=${encodeURIComponent(subscriber)}${version === undefined ? '' : `&version=${version}`}`,
        undefined,
        policyChangeSchema,
        { method: 'GET', timeoutMs: options.timeoutMs + holdMs },
      ),
  };
}
export type PdpClient = ReturnType<typeof createPolicyClient>;

/**
 * The Consent Engine: coverage checks and pending consent requests. The checks of concurrent queries go to
 * the CE together (consent-check-batcher.ts: `POST /v1/consents/checks`), each from a call sent after it
 * was asked.
 */
export function createConsentClient(options: GateClientOptions & { maxChecksInFlight?: number }) {
  const checks = createConsentCheckBatcher({
    send: (batch) =>
      authorizedPost(options, consentApiPaths.checks, { checks: batch }, consentCheckBatchResponseSchema),
    ...(options.maxChecksInFlight ? { maxInFlight: options.maxChecksInFlight } : {}),
  });
  return {
    check: (request: ConsentRequestBody) => checks.check(request),
    requestConsent: (request: ConsentRequestBody) =>
      authorizedPost(options, consentApiPaths.create, request, consentCreateResponseSchema),
  };
}
export type ConsentClient = ReturnType<typeof createConsentClient>;
