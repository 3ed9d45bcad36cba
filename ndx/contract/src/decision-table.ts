import { z } from 'zod';
import { fieldRefSchema } from './field-ref.ts';
import { fieldDecisionSchema, policyDenyReasons } from './pdp-api.ts';

/**
 * The PDP's decision tables and policy change feed: the OE answers most queries from a table the PDP
 * compiled for (policy version, consumer, purpose, whether the query names a data subject), and drops
 * its tables on every policy activation the feed announces. The PDP answers with these shapes and the
 * OE parses them. See docs/policy.md ("Decision tables and the change feed").
 */

/** Where the table and feed live, relative to the PDP's base URL (route patterns). */
export const decisionTablePaths = {
  /** GET: the table of one consumer and purpose; query `subject=present|absent`. */
  table: '/v1/decision-tables/:consumerId/:purpose',
  /** GET: the long-polled change feed; query `subscriber` (an id the subscriber chose) and `version`. */
  changes: '/v1/policy-changes',
} as const;

/** Whether the query names a data subject (a citizen) or concerns no one: the tables differ. */
export const subjectPresences = ['present', 'absent'] as const;
export type SubjectPresence = (typeof subjectPresences)[number];

/** The path of one table (ids URL-encoded). */
export const decisionTablePath = (consumerId: string, purpose: string, subject: SubjectPresence): string =>
  `/v1/decision-tables/${encodeURIComponent(consumerId)}/${encodeURIComponent(purpose)}?subject=${subject}`;

/** The query of `GET /v1/decision-tables/...`. */
export const decisionTableQuerySchema = z.object({
  subject: z.enum(subjectPresences).default('present'),
});

/** The decision id the OE records (audit) for a decision read from a table. */
export const tableDecisionId = (tableId: string): string => `table:${tableId}`;

/**
 * A decision table: every field of the PDP's field catalogue decided for one consumer, purpose and
 * subject presence, exactly as `POST /v1/decisions` decides it at any instant in [validFrom, validUntil).
 * `perRequestFields` are fields whose decision can depend on which citizen is asked (a policy reads the
 * data subject): they are decided per request, never from the table.
 */
export const decisionTableSchema = z.object({
  /** Names the table so that the PDP's dry run can recompute it (policy version, consumer, purpose, subject, validFrom). */
  tableId: z.string().min(1).max(100),
  policyVersion: z.number().int().positive(),
  consumerId: z.string().min(1).max(200),
  purpose: z.string().min(1).max(200),
  subject: z.enum(subjectPresences),
  validFrom: z.iso.datetime({ offset: true }),
  /** The next instant at which any policy could decide differently (time window, date, expiry). */
  validUntil: z.iso.datetime({ offset: true }),
  fields: z.array(fieldDecisionSchema).max(20_000),
  perRequestFields: z.array(fieldRefSchema).max(20_000),
  /** The decision of a field the table does not list (UNKNOWN_FIELD, or UNKNOWN_CONSUMER for an unknown consumer). */
  unlistedReason: z.enum(policyDenyReasons),
});
export type DecisionTable = z.infer<typeof decisionTableSchema>;

/** The query of `GET /v1/policy-changes`. */
export const policyChangesQuerySchema = z.object({
  /** The subscriber's id, the same on every poll (a random UUID per OE process). */
  subscriber: z.string().min(8).max(100),
  /**
   * The policy version whose tables the subscriber holds (it holds none of any other version); absent on
   * the first poll. The poll acknowledges that version and, when it is the active one, renews the lease.
   */
  version: z.coerce.number().int().positive().optional(),
});

/**
 * The answer to a poll, immediately when `activeVersion` differs from the version the subscriber named
 * (or the poll is its first for that version), otherwise when a version is activated or after `holdMs`.
 * When `activeVersion` equals the version polled with, the subscriber may trust its tables of that version
 * until `leaseMs` after it SENT the poll; otherwise it must drop them and poll again with the new version.
 */
export const policyChangeSchema = z.object({
  activeVersion: z.number().int().positive(),
  leaseMs: z.number().int().positive().max(60_000),
  holdMs: z.number().int().positive().max(60_000),
});
export type PolicyChange = z.infer<typeof policyChangeSchema>;
