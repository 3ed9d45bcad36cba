import { parseNic, type Nic } from '@ndx/contract';
import { BadRequestError, type Pool } from '@ndx/service-kit';
import type { AuditEndUser, AuditOutcome, AuditRecord, ReleasedField, WithheldField } from './record.ts';
import { AUDIT_COLUMNS, rowToRecord, type AuditRow } from './schema.ts';
import { listChainHeads } from './verify.ts';

/** One access to a citizen's data, as the consent portal's access log shows it. */
export interface CitizenAccess {
  /** Audit record id; also the keyset cursor. */
  id: number;
  /** When the request arrived (ISO 8601). */
  occurredAt: string;
  /** FUDI client_id of the consumer app (e.g. `passport-app`). */
  consumerId: string;
  /** Purpose code (e.g. `passport-application`). */
  purpose: string | null;
  outcome: AuditOutcome;
  /** Each with what allowed it (`allowedBy`: a consent or the policy), except in format 1 records. */
  fieldsReleased: ReleasedField[];
  /** Each with the reason code: FORBIDDEN, CONSENT_REQUIRED, PROVIDER_UNAVAILABLE, PROVIDER_ERROR, INTERNAL_ERROR. */
  fieldsWithheld: WithheldField[];
  /** Format 2: a consent that allowed released fields. Format 1: the pending request if any, else the covering consent. */
  consentId: string | null;
  /** The consent request opened for the missing fields (asked for, allowed nothing); format 2 on. */
  consentRequested: string | null;
  /** Who the consumer said asked (asserted by the consumer, not verified); format 2 on. */
  endUser: AuditEndUser | null;
  /** The reference a citizen quotes: NDX's own (format 2), or the trace id format 1 records used. */
  reference: string;
  /** The trace id of the OE's logs (the caller's, when it sent a traceparent): for operators, not a reference. */
  traceId: string;
  formatVersion: number;
}

export interface CitizenAccessPage {
  /** Newest first. */
  items: CitizenAccess[];
  /** Pass as `before` to get the next (older) page; null when there is none. */
  nextBefore: number | null;
}

export interface ListAccessOptions {
  /** Page size, 1..100 (default 20). */
  limit?: number;
  /** Only records with an id below this (the previous page's nextBefore). */
  before?: number;
}

/** The NIC in canonical form (the exchange's one NIC rule), or a BadRequestError (code BAD_REQUEST). */
export function requireNic(input: string): Nic {
  const nic = parseNic(input);
  if (nic === null) {
    throw new BadRequestError('not a NIC: expected 9 digits and V or X, or 12 digits', { field: 'nic' });
  }
  return nic;
}

/**
 * The access log's page, newest first: a range scan of audit_log_citizen_page_idx (citizen_id, -id) from
 * the cursor on (migration 1003). Ordering by -id, which the primary key cannot give, leaves the planner
 * no cheaper plan, however its estimates for the citizen fall; so a page costs the same at the top of a
 * long history as deep in it, and the same at 100,000 rows as at 10,000,000.
 * $1 NIC, $2 cursor (exclusive; the largest bigint for the first page), $3 rows.
 */
export const ACCESS_LOG_PAGE_SQL = `SELECT ${AUDIT_COLUMNS} FROM audit_log
  WHERE audit_log.citizen_id = $1 AND -audit_log.id > -($2::bigint)
  ORDER BY -audit_log.id LIMIT $3`;

/** The cursor of the first page: above every id. */
const NO_CURSOR = '9223372036854775807';

/** Every access to one citizen's data, newest first, one page at a time (keyset pagination on id). */
export async function listAccessesForCitizen(
  pool: Pool,
  nic: string,
  options: ListAccessOptions = {},
): Promise<CitizenAccessPage> {
  const citizenId = requireNic(nic);
  const limit = options.limit ?? 20;
  if (!Number.isInteger(limit) || limit < 1 || limit > 100) {
    throw new BadRequestError('limit must be an integer from 1 to 100', { field: 'limit' });
  }
  const before = options.before;
  if (before !== undefined && (!Number.isSafeInteger(before) || before < 1)) {
    throw new BadRequestError('before must be a positive integer', { field: 'before' });
  }
  const { rows } = await pool.query<AuditRow>(ACCESS_LOG_PAGE_SQL, [
    citizenId,
    before === undefined ? NO_CURSOR : String(before),
    limit + 1,
  ]);
  const page = rows.slice(0, limit).map((row) => toAccess(rowToRecord(row)));
  return { items: page, nextBefore: rows.length > limit ? page.at(-1)!.id : null };
}

/** Every audit record about one citizen, oldest first, read in bounded batches. */
export async function* exportCitizenRecords(
  pool: Pool,
  nic: string,
  options: { batchSize?: number } = {},
): AsyncGenerator<AuditRecord> {
  const citizenId = requireNic(nic);
  const batchSize = Math.min(10_000, Math.max(1, Math.trunc(options.batchSize ?? 1_000)));
  let after = 0;
  for (;;) {
    const { rows } = await pool.query<AuditRow>(
      `SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE citizen_id = $1 AND -audit_log.id < -($2::bigint)
       ORDER BY -audit_log.id DESC LIMIT $3`,
      [citizenId, after, batchSize],
    );
    for (const row of rows) yield rowToRecord(row);
    if (rows.length < batchSize) return;
    after = Number(rows.at(-1)!.id);
  }
}

/** The end of every chain (the legacy one, then each writer's); publish them elsewhere now and then to anchor the log. */
export async function chainHeads(
  pool: Pool,
): Promise<{ chainId: string; lastSeq: number; lastHash: string }[]> {
  return listChainHeads(pool);
}

function toAccess(record: AuditRecord): CitizenAccess {
  return {
    id: record.id,
    occurredAt: record.occurredAt,
    consumerId: record.consumerId,
    purpose: record.purpose,
    outcome: record.outcome,
    fieldsReleased: record.fieldsReleased,
    fieldsWithheld: record.fieldsWithheld,
    consentId: record.consentId,
    consentRequested: record.consentRequested,
    endUser: record.endUser,
    reference: record.reference ?? record.traceId,
    traceId: record.traceId,
    formatVersion: record.formatVersion,
  };
}
