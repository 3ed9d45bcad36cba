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

/** Why a field got its decision, for logs and audit (the policy ids say which policies). */
export const policyDecisionReasons = [
  'PERMITTED',
  'CONSENT_REQUIRED',
  'FORBIDDEN',
  'NOT_GRANTED',
  'UNKNOWN_FIELD',
  'UNKNOWN_CONSUMER',
] as const;
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
