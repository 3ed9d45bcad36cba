import { z } from 'zod';
import { fieldRefSchema } from './field-ref.ts';

/**
 * The Policy Decision Point's HTTP API, `POST /v1/decisions`: the PDP parses requests with these
 * schemas and the OE parses the PDP's answers with them.
 */

/** Where each operation lives, relative to the PDP's base URL. */
export const policyApiPaths = {
  /** POST: a decision per field for one consumer, purpose and data subject. */
  decisions: '/v1/decisions',
} as const;

/** What the PDP decides per field. */
export const policyDecisions = ['PERMIT', 'DENY', 'CONSENT_REQUIRED'] as const;
export type PolicyDecision = (typeof policyDecisions)[number];

/**
 * Why a field was denied, machine-readable: the OE passes it to the consumer as `extensions.reason` of the
 * field's FORBIDDEN error. Ordered from the longest lasting to the shortest: when several apply, the PDP
 * names the one that lasts longest, so OUTSIDE_TIME_WINDOW means only the window stands in the way.
 */
export const policyDenyReasons = [
  /** The consumer is not known to the PDP. */
  'UNKNOWN_CONSUMER',
  /** The PDP holds no metadata for the field. */
  'UNKNOWN_FIELD',
  /** The consumer has not registered the purpose it asked for. */
  'PURPOSE_NOT_REGISTERED',
  /** No grant of this consumer for this purpose names the field (or no permit policy applied). */
  'NOT_GRANTED',
  /** The grant that names the field has expired. */
  'GRANT_EXPIRED',
  /** A forbid policy denied it (its `policyIds` say which). */
  'POLICY_FORBIDS',
  /** The grant's time window (Farajaland time) does not include now. */
  'OUTSIDE_TIME_WINDOW',
] as const;
export type PolicyDenyReason = (typeof policyDenyReasons)[number];

/** Why a field got its decision: PERMITTED, CONSENT_REQUIRED, or one of the deny reasons. */
export const policyDecisionReasons = ['PERMITTED', 'CONSENT_REQUIRED', ...policyDenyReasons] as const;
export type PolicyDecisionReason = (typeof policyDecisionReasons)[number];

/** The body of `POST /v1/decisions`. Field names are not checked: a field the PDP does not know is a DENY. */
export const policyDecisionRequestSchema = z.object({
  consumerId: z.string().min(1).max(200),
  purpose: z.string().min(1).max(200),
  /** The data subject (a citizen's NIC), or null/absent when the fields concern no one. */
  subjectId: z.string().min(1).max(200).nullable().optional(),
  fields: z.array(fieldRefSchema).max(1000),
});
export type PolicyDecisionRequest = z.infer<typeof policyDecisionRequestSchema>;

/** One field's decision, with what a citizen is shown when asked for consent (from the field's metadata, when known). */
export const fieldDecisionSchema = fieldRefSchema.extend({
  decision: z.enum(policyDecisions),
  /** The policies that decided (empty when none applied). */
  policyIds: z.array(z.string()),
  reason: z.enum(policyDecisionReasons),
  /**
   * With a PERMIT: the legal basis of the grant the consumer reads the field under (`legal-obligation`, …).
   * `consent` here means the grant is consent-based and this field needs none (it is not personal data).
   */
  legalBasis: z.string().min(1).max(64).optional(),
  displayName: z.string().optional(),
  description: z.string().optional(),
});
export type FieldDecision = z.infer<typeof fieldDecisionSchema>;

/** The answer to `POST /v1/decisions`: one decision per requested field, in request order. */
export const policyDecisionResponseSchema = z.object({
  decisionId: z.string().min(1),
  /** The policy version that decided. */
  policyVersion: z.number().int().positive(),
  decidedAt: z.iso.datetime({ offset: true }),
  fields: z.array(fieldDecisionSchema),
});
export type PolicyDecisionResponse = z.infer<typeof policyDecisionResponseSchema>;
