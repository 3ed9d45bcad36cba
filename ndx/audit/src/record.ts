import { createHash } from 'node:crypto';
import { z } from 'zod';
import { nicSchema } from '@ndx/contract';

/** Version of the canonical serialisation; stored per record so a future format can coexist. */
export const AUDIT_FORMAT_VERSION = 1;

/** prev_hash of the first record in the chain. */
export const GENESIS_HASH = '0'.repeat(64);

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Text PostgreSQL and JSON both store faithfully: bounded, no NUL, no lone surrogate. */
const text = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .refine(
      (s) => !s.includes('\u0000') && !LONE_SURROGATE.test(s),
      'must not contain NUL or lone surrogates',
    );

/** The data subject's NIC, stored in canonical form (the exchange's one NIC rule). */
const nic = nicSchema;

const milliseconds = z.number().min(0).max(86_400_000);

/** One provider field, as in the PDP contract. */
export const auditFieldSchema = z.object({
  providerKey: text(64),
  schemaId: text(128),
  field: text(256),
});

/** Why a requested field was not released (the GraphQL `extensions.code` on its path). */
export const withheldReasonSchema = z.enum([
  'FORBIDDEN',
  'CONSENT_REQUIRED',
  'PROVIDER_UNAVAILABLE',
  'PROVIDER_ERROR',
  'INTERNAL_ERROR',
]);

export const withheldFieldSchema = auditFieldSchema.extend({ reason: withheldReasonSchema });

/** One call the OE made to a provider, as the audit records it: how long it took and how it ended. */
export const auditProviderCallSchema = z.object({
  providerKey: text(64),
  latencyMs: milliseconds,
  outcome: z.enum(['OK', 'ERROR', 'TIMEOUT', 'UNAVAILABLE', 'CIRCUIT_OPEN']),
  /** HTTP status the provider answered with, when it answered. */
  httpStatus: z.number().int().min(100).max(599).optional(),
  /** Attempts made (1, or 2 after a retry on a connection error). */
  attempts: z.number().int().min(1).max(10).optional(),
});

/** How the request ended for the consumer. */
export const auditOutcomeSchema = z.enum([
  /** Every requested field released. */
  'SUCCESS',
  /** Some fields released, some withheld. */
  'PARTIAL',
  /** Nothing released: every field forbidden or awaiting consent. */
  'DENIED',
  /** Nothing released because consent is missing (a pending consent was created). */
  'CONSENT_REQUIRED',
  /** Rejected before gating (validation, limits, bad arguments). */
  'REJECTED',
  /** Nothing released because of an internal or provider failure. */
  'ERROR',
]);

const fieldList = z.array(auditFieldSchema).max(2_000);

/** What the caller (the OE) appends: one record per request. Never the released values. */
export const auditRecordInputSchema = z.object({
  /** When the request arrived; defaults to the writer's clock. */
  occurredAt: z.date().optional(),
  traceId: text(128),
  /** FUDI client_id of the consumer app. */
  consumerId: text(256),
  purpose: text(128).nullable().default(null),
  /** NIC of the data subject (normalised to upper case); null when the request had none. */
  citizenId: nic.nullable().default(null),
  operationName: text(256).nullable().default(null),
  fieldsRequested: fieldList.default([]),
  fieldsReleased: fieldList.default([]),
  fieldsWithheld: z.array(withheldFieldSchema).max(2_000).default([]),
  decisionId: text(128).nullable().default(null),
  policyVersion: text(128).nullable().default(null),
  consentId: text(128).nullable().default(null),
  providers: z.array(auditProviderCallSchema).max(64).default([]),
  /** Per-stage timings in milliseconds, e.g. { validate: 0.4, plan: 0.1, pdp: 3.2, 'provider.RGD': 12, audit: 2 }. */
  timings: z.record(text(64), milliseconds).default({}),
  outcome: auditOutcomeSchema,
});

export type AuditField = z.infer<typeof auditFieldSchema>;
export type WithheldReason = z.infer<typeof withheldReasonSchema>;
export type WithheldField = z.infer<typeof withheldFieldSchema>;
export type AuditProviderCall = z.infer<typeof auditProviderCallSchema>;
export type AuditOutcome = z.infer<typeof auditOutcomeSchema>;
/** Input of `AuditWriter.append`. Optional/nullable members may be left out. */
export type AuditRecordInput = z.input<typeof auditRecordInputSchema>;

/** A record as stored: the input normalised, plus its place in the chain. */
export interface AuditRecord {
  id: number;
  formatVersion: number;
  /** ISO 8601, millisecond precision. */
  occurredAt: string;
  traceId: string;
  consumerId: string;
  purpose: string | null;
  citizenId: string | null;
  operationName: string | null;
  fieldsRequested: AuditField[];
  fieldsReleased: AuditField[];
  fieldsWithheld: WithheldField[];
  decisionId: string | null;
  policyVersion: string | null;
  consentId: string | null;
  providers: AuditProviderCall[];
  timings: Record<string, number>;
  outcome: AuditOutcome;
  prevHash: string;
  hash: string;
}

/** A record's content before it has a place in the chain. */
export type AuditContent = Omit<AuditRecord, 'id' | 'formatVersion' | 'prevHash' | 'hash'>;

/** Parses untrusted input into normalised record content (throws a ZodError when invalid). */
export function toAuditContent(input: AuditRecordInput, now: Date): AuditContent {
  const parsed = auditRecordInputSchema.parse(input);
  const { occurredAt, ...rest } = parsed;
  const when = occurredAt ?? now;
  if (Number.isNaN(when.getTime())) throw new Error('occurredAt is not a valid date');
  return { ...rest, occurredAt: when.toISOString() };
}

/**
 * Canonical JSON: object keys sorted by UTF-16 code units at every level, no whitespace,
 * undefined members left out (as JSON.stringify does). Arrays keep their order.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value))
      throw new Error('non-finite number in audit record');
    return JSON.stringify(value);
  }
  if (Array.isArray(value))
    return `[${value.map((v) => canonicalJson(v === undefined ? null : v)).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
}

/** SHA-256 (hex) over the canonical serialisation of everything in the record except `hash`. */
export function computeRecordHash(record: Omit<AuditRecord, 'hash'> & { hash?: string }): string {
  const { hash: _stored, ...hashed } = record;
  return createHash('sha256').update(canonicalJson(hashed), 'utf8').digest('hex');
}
