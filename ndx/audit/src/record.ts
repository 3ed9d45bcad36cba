import { createHash, randomUUID } from 'node:crypto';
import { z } from 'zod';
import { endUserSchema, nicSchema } from '@ndx/contract';

/**
 * Version of the record format written now; stored (and hashed) per record, so formats coexist in one chain.
 * 1: the first format. 2 (issue 13): the OE's own `reference`, the caller's traceparent kept apart, the end
 * user, which consent (or policy) allowed each released field, and the consent request opened (asked for).
 * 3 (issue 12): one chain per writer: the record's place is its `chainId` and `seq` (both hashed); `id` is
 * only the log's global key (assigned by the database, not hashed).
 * See {@link computeRecordHash} for how each format is hashed.
 */
export const AUDIT_FORMAT_VERSION = 3;

/** The chain of the records written before format 3 (formats 1 and 2), ordered by id; it is sealed. */
export const LEGACY_CHAIN_ID = 'legacy';

/** A writer's chain id: lower-case letters, digits, '.', '_' and '-', at most 64, never 'legacy'. */
export const CHAIN_ID_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** prev_hash of the first record in the chain. */
export const GENESIS_HASH = '0'.repeat(64);

const ANY_SURROGATE = /[\uD800-\uDFFF]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Text PostgreSQL and JSON both store faithfully: bounded, no NUL, no lone surrogate. */
const text = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .refine(
      // Most text has no surrogate at all: a plain scan settles it before the lookaround one.
      (s) => !s.includes('\u0000') && (!ANY_SURROGATE.test(s) || !LONE_SURROGATE.test(s)),
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

/**
 * What allowed a released field: an active consent of the citizen (its id), or the policy without consent
 * (a PDP PERMIT: the policies that permitted it, e.g. a grant under a legal obligation, or public data).
 */
export const releaseBasisSchema = z.discriminatedUnion('basis', [
  z.object({ basis: z.literal('consent'), consentId: text(128) }),
  z.object({
    basis: z.literal('policy'),
    policyIds: z.array(text(128)).max(50),
    /** The grant's legal basis the PDP named (`legal-obligation`, …; `consent`: a field that needs no consent). */
    legalBasis: text(64).optional(),
  }),
]);

/** A released field and what allowed it (always given by the OE since format 2; absent in format 1 records). */
export const releasedFieldSchema = auditFieldSchema.extend({ allowedBy: releaseBasisSchema.optional() });

/** The W3C traceparent a caller sent (lower case), kept for correlation only. */
const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

/**
 * The end user the consumer says it asked for (its NDX-End-User header): asserted by the consumer
 * (`assertedBy`, always the record's consumerId), not verified by NDX.
 */
export const auditEndUserSchema = endUserSchema.extend({ assertedBy: text(256) });

/** One call the OE made to a provider, as the audit records it: how long it took and how it ended. */
export const auditProviderCallSchema = z.object({
  providerKey: text(64),
  latencyMs: milliseconds,
  outcome: z.enum(['OK', 'ERROR', 'TIMEOUT', 'UNAVAILABLE', 'CIRCUIT_OPEN']),
  /** HTTP status the provider answered with, when it answered. */
  httpStatus: z.number().int().min(100).max(599).optional(),
  /** Attempts made (1, or 2 after a retry on a connection error). */
  attempts: z.number().int().min(1).max(10).optional(),
  /** GraphQL errors in an answer that was otherwise OK (HTTP 200 with `errors`): their fields are withheld. */
  graphqlErrors: z.number().int().min(1).max(100_000).optional(),
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

/** What the caller (the OE) appends: one record per data subject of a request. Never the released values. */
export const auditRecordInputSchema = z
  .object({
    /** When the request arrived; defaults to the writer's clock. */
    occurredAt: z.date().optional(),
    /**
     * NDX's reference for the request, the one citizens quote in a complaint: generated by NDX (the OE gives
     * every record of one request the same one, and returns it in NDX-Audit-Reference). The writer makes a
     * random one when none is given. Never taken from the caller.
     */
    reference: text(128).optional(),
    /** The trace id of the OE's logs for the request (the caller's when it sent a traceparent): correlation only. */
    traceId: text(128),
    /** The traceparent header the consumer sent, when it sent a valid one: correlation only, never the reference. */
    callerTraceparent: z.string().regex(TRACEPARENT).nullable().default(null),
    /** FUDI client_id of the consumer app. */
    consumerId: text(256),
    /** The end user the consumer asserts it asked for (recorded with assertedBy = consumerId). */
    endUser: endUserSchema.nullable().default(null),
    purpose: text(128).nullable().default(null),
    /** NIC of the data subject (normalised to upper case); null when the request had none. */
    citizenId: nic.nullable().default(null),
    operationName: text(256).nullable().default(null),
    fieldsRequested: fieldList.default([]),
    fieldsReleased: z.array(releasedFieldSchema).max(2_000).default([]),
    fieldsWithheld: z.array(withheldFieldSchema).max(2_000).default([]),
    decisionId: text(128).nullable().default(null),
    policyVersion: text(128).nullable().default(null),
    /**
     * A consent that allowed released fields (the newest, when several did; every one is named per field in
     * fieldsReleased[].allowedBy). Null when no consent allowed anything. (Format 1: the pending request if
     * one was opened, else the covering consent.)
     */
    consentId: text(128).nullable().default(null),
    /** The consent request opened for the fields still missing: asked for, it allowed nothing. */
    consentRequested: text(128).nullable().default(null),
    providers: z.array(auditProviderCallSchema).max(64).default([]),
    /** Per-stage timings in milliseconds, e.g. { validate: 0.4, plan: 0.1, pdp: 3.2, 'provider.RGD': 12, audit: 2 }. */
    timings: z.record(text(64), milliseconds).default({}),
    outcome: auditOutcomeSchema,
  })
  .superRefine((record, ctx) => {
    const allowing = new Set(
      record.fieldsReleased.flatMap((f) => (f.allowedBy?.basis === 'consent' ? [f.allowedBy.consentId] : [])),
    );
    if (record.consentRequested !== null && allowing.has(record.consentRequested)) {
      ctx.addIssue({
        code: 'custom',
        path: ['consentRequested'],
        message: 'a consent request that was only asked for cannot have allowed a released field',
      });
    }
    if (record.consentId !== null && record.consentId === record.consentRequested) {
      ctx.addIssue({
        code: 'custom',
        path: ['consentId'],
        message: 'consentId names a consent that allowed released fields, not the request asked for',
      });
    }
    if (record.consentId !== null && allowing.size > 0 && !allowing.has(record.consentId)) {
      ctx.addIssue({
        code: 'custom',
        path: ['consentId'],
        message: 'consentId must be one of the consents that allowed a released field',
      });
    }
  });

export type AuditField = z.infer<typeof auditFieldSchema>;
export type WithheldReason = z.infer<typeof withheldReasonSchema>;
export type WithheldField = z.infer<typeof withheldFieldSchema>;
export type ReleaseBasis = z.infer<typeof releaseBasisSchema>;
export type ReleasedField = z.infer<typeof releasedFieldSchema>;
export type AuditEndUser = z.infer<typeof auditEndUserSchema>;
export type AuditProviderCall = z.infer<typeof auditProviderCallSchema>;
export type AuditOutcome = z.infer<typeof auditOutcomeSchema>;
/** Input of `AuditWriter.append`. Optional/nullable members may be left out. */
export type AuditRecordInput = z.input<typeof auditRecordInputSchema>;

/** A record as stored: the input normalised, plus its place in the chain. */
export interface AuditRecord {
  /** The log's global key (and the access log's cursor); in formats 1 and 2 also the place in the one chain. */
  id: number;
  formatVersion: number;
  /** The chain the record is in: its writer's (format 3), or 'legacy' (formats 1 and 2). */
  chainId: string;
  /** Place in its chain: 1, 2, 3, ... (formats 1 and 2: equal to id). */
  seq: number;
  /** ISO 8601, millisecond precision. */
  occurredAt: string;
  /** NDX's reference for the request (format 2 on); null in format 1 records, whose reference was traceId. */
  reference: string | null;
  traceId: string;
  /** The caller's traceparent, when it sent one (format 2 on). */
  callerTraceparent: string | null;
  consumerId: string;
  /** The end user the consumer asserted (format 2 on). */
  endUser: AuditEndUser | null;
  purpose: string | null;
  citizenId: string | null;
  operationName: string | null;
  fieldsRequested: AuditField[];
  fieldsReleased: ReleasedField[];
  fieldsWithheld: WithheldField[];
  decisionId: string | null;
  policyVersion: string | null;
  consentId: string | null;
  /** The consent request opened for missing fields (format 2 on). */
  consentRequested: string | null;
  providers: AuditProviderCall[];
  timings: Record<string, number>;
  outcome: AuditOutcome;
  prevHash: string;
  hash: string;
}

/** A record's content before it has a place in the chain. */
export type AuditContent = Omit<
  AuditRecord,
  'id' | 'formatVersion' | 'chainId' | 'seq' | 'prevHash' | 'hash'
>;

/** Parses untrusted input into normalised record content (throws a ZodError when invalid). */
export function toAuditContent(input: AuditRecordInput, now: Date): AuditContent {
  const parsed = auditRecordInputSchema.parse(input);
  const { occurredAt, reference, endUser, ...rest } = parsed;
  const when = occurredAt ?? now;
  if (Number.isNaN(when.getTime())) throw new Error('occurredAt is not a valid date');
  return {
    ...rest,
    reference: reference ?? newAuditReference(),
    endUser: endUser === null ? null : { ...endUser, assertedBy: parsed.consumerId },
    occurredAt: when.toISOString(),
  };
}

/** A new reference for an audited request: random, never derived from anything the caller sent. */
export function newAuditReference(): string {
  return randomUUID();
}

/** The members format 2 added; a format 1 record is hashed without them (they are null in every format 1 row). */
const FORMAT_2_MEMBERS = ['reference', 'callerTraceparent', 'endUser', 'consentRequested'] as const;

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
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      const item: unknown = value[i];
      out += canonicalJson(item === undefined ? null : item);
    }
    return `${out}]`;
  }
  // Array.prototype.sort without a comparator orders strings by UTF-16 code units.
  const keys = Object.keys(value).sort();
  let out = '{';
  let first = true;
  for (const key of keys) {
    const member = (value as Record<string, unknown>)[key];
    if (member === undefined) continue;
    if (!first) out += ',';
    first = false;
    out += `${JSON.stringify(key)}:${canonicalJson(member)}`;
  }
  return `${out}}`;
}

/** A record as the hash sees it: format 1 members may be absent, and so may what format 3 does not hash. */
export type HashedRecord = Omit<
  AuditRecord,
  'hash' | 'id' | 'chainId' | 'seq' | (typeof FORMAT_2_MEMBERS)[number]
> &
  Partial<Pick<AuditRecord, 'id' | 'chainId' | 'seq' | (typeof FORMAT_2_MEMBERS)[number]>> & {
    hash?: string;
  };

/**
 * SHA-256 (hex) over the canonical serialisation of everything in the record except `hash`.
 * Format 1 records are hashed as they were written, without the members format 2 added, unless one of those
 * holds a value (which no format 1 record was written with: then it is hashed, and the stored hash no longer
 * matches). From format 2 on, every member is hashed, null or not; `formatVersion` itself is always hashed.
 * Formats 1 and 2 hash `id` (their place in the one chain) and not `chainId` and `seq` (which they did not
 * have); format 3 hashes `chainId` and `seq` (its place) and not `id` (assigned by the database at insert).
 */
export function computeRecordHash(record: HashedRecord): string {
  const { hash: _stored, ...hashed } = record as Record<string, unknown>;
  if (record.formatVersion <= 2) {
    delete hashed['chainId'];
    delete hashed['seq'];
  } else {
    delete hashed['id'];
  }
  if (record.formatVersion === 1) {
    for (const member of FORMAT_2_MEMBERS) {
      if (hashed[member] === null || hashed[member] === undefined) delete hashed[member];
    }
  }
  return createHash('sha256').update(canonicalJson(hashed), 'utf8').digest('hex');
}
