// SQL access to the consent tables (migrations/001_consents.sql): each query once, rows mapped to
// records. No rule lives here: which change to make is consent-lifecycle.ts's, and the database's own
// trigger refuses any transition the contract's table does not allow.
import {
  consentStatuses,
  expiringConsentStatuses,
  initialConsentStatus,
  isConsentStatus,
  type ConsentActor,
  type ConsentEvent,
  type ConsentField,
  type ConsentStatus,
} from '@ndx/contract';
import type { Pool, PoolClient } from '@ndx/service-kit';
import type { Change, ChangeSet, ConsentRecord } from './consent-lifecycle.ts';

/** The pool, or a client inside a transaction. */
type Queryable = Pool | PoolClient;

/** Every change of a consent is announced here (payload: the consent id), for caches in other processes. */
const CONSENT_CHANGED_CHANNEL = 'consent_changed';

interface ConsentRow {
  id: string;
  citizen_id: string;
  consumer_id: string;
  purpose: string;
  purpose_text: string;
  legal_basis: string;
  fields: ConsentField[];
  status: ConsentStatus;
  notice_version: string;
  duration_seconds: number;
  created_at: Date;
  decided_at: Date | null;
  granted_at: Date | null;
  expires_at: Date;
  revoked_at: Date | null;
}

/** A status as an SQL literal: the contract's closed set of words, never input (checked all the same). */
function sqlStatus(status: ConsentStatus): string {
  if (!isConsentStatus(status)) throw new Error(`not a consent status: ${String(status)}`);
  return `'${status}'`;
}

/** An open request (the partial unique index `consents_one_open_request` has the same predicate). */
const OPEN_REQUEST = `status = ${sqlStatus(initialConsentStatus)}`;
/** A record that lapses at expires_at (the partial index `consents_open_by_expiry` has the same predicate). */
const EXPIRING = `status IN (${expiringConsentStatuses.map(sqlStatus).join(', ')})`;

/** The columns a change may set besides the status. */
const changeColumns: Record<keyof ChangeSet, string> = {
  fields: 'fields',
  decidedAt: 'decided_at',
  grantedAt: 'granted_at',
  expiresAt: 'expires_at',
  revokedAt: 'revoked_at',
};

/** Who asks, for whom and why: what a coverage check and a request are about. */
export interface ConsentSubject {
  citizenId: string;
  consumerId: string;
  purpose: string;
}

/** What the coverage check needs of an active consent: its id and its fields (each with `granted`). */
export type ActiveGrant = Pick<ConsentRecord, 'id' | 'fields'>;

/**
 * The coverage check's one statement: the active, unexpired consents of one (citizen, consumer, purpose),
 * newest grant first, read through the partial index `consents_active_by_subject` (migrations/002), which has
 * the same predicate and order. Exported for the test that checks its plan.
 */
export const ACTIVE_GRANTS_SQL = `SELECT id, fields FROM consents
  WHERE citizen_id = $1 AND consumer_id = $2 AND purpose = $3
    AND status = ${sqlStatus('ACTIVE')} AND expires_at > $4
  ORDER BY granted_at DESC, id`;

/**
 * The active consents of one citizen for one consumer and purpose, unexpired at `now`, newest grant first.
 * A named (prepared) statement: each connection parses and plans it once, then only binds and executes it.
 * No transaction: one statement sees one snapshot, so a revocation committed before it started is seen.
 */
export async function selectActiveGrants(
  db: Queryable,
  subject: ConsentSubject,
  now: Date,
): Promise<ActiveGrant[]> {
  const { rows } = await db.query<ActiveGrant>({
    name: 'ce_active_grants',
    text: ACTIVE_GRANTS_SQL,
    values: [subject.citizenId, subject.consumerId, subject.purpose, now],
  });
  return rows;
}

/**
 * The coverage check of several subjects in one statement: for each (in the order given, `i` counting from 1)
 * the same rows ACTIVE_GRANTS_SQL reads, through the same partial index (one range scan per subject).
 * Exported for the test that checks its plan.
 */
export const ACTIVE_GRANTS_MANY_SQL = `SELECT q.i::int AS i, c.id, c.fields
  FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS q(citizen_id, consumer_id, purpose, i)
  CROSS JOIN LATERAL (
    SELECT id, fields, granted_at FROM consents
     WHERE citizen_id = q.citizen_id AND consumer_id = q.consumer_id AND purpose = q.purpose
       AND status = ${sqlStatus('ACTIVE')} AND expires_at > $4
  ) c
  ORDER BY q.i, c.granted_at DESC, c.id`;

/**
 * The active consents of each subject (as selectActiveGrants reads them, newest grant first), in one
 * prepared statement that sees one snapshot taken after it started.
 */
export async function selectActiveGrantsOfMany(
  db: Queryable,
  subjects: readonly ConsentSubject[],
  now: Date,
): Promise<ActiveGrant[][]> {
  const { rows } = await db.query<ActiveGrant & { i: number }>({
    name: 'ce_active_grants_many',
    text: ACTIVE_GRANTS_MANY_SQL,
    values: [
      subjects.map((s) => s.citizenId),
      subjects.map((s) => s.consumerId),
      subjects.map((s) => s.purpose),
      now,
    ],
  });
  const grants: ActiveGrant[][] = subjects.map(() => []);
  for (const row of rows) grants[row.i - 1]!.push({ id: row.id, fields: row.fields });
  return grants;
}

/** A new request to insert: the subject, what the purpose says, the fields as shown, and its lifetimes. */
export interface NewConsent extends ConsentSubject {
  id: string;
  purposeText: string;
  legalBasis: string;
  fields: ConsentField[];
  /** Identifies "the same request" while it is open: concurrent identical requests share one record. */
  requestKey: string;
  noticeVersion: string;
  durationSeconds: number;
  createdAt: Date;
  /** When the request lapses if unanswered. */
  expiresAt: Date;
}

/** Inserts a request in the initial status; undefined when an open request with the same key exists. */
export async function insertOpenRequest(
  client: PoolClient,
  consent: NewConsent,
): Promise<ConsentRecord | undefined> {
  const { rows } = await client.query<ConsentRow>(
    `INSERT INTO consents (id, citizen_id, consumer_id, purpose, purpose_text, legal_basis, fields,
       status, request_key, notice_version, duration_seconds, created_at, expires_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $12)
     ON CONFLICT (request_key) WHERE ${OPEN_REQUEST} DO NOTHING
     RETURNING *`,
    [
      consent.id,
      consent.citizenId,
      consent.consumerId,
      consent.purpose,
      consent.purposeText,
      consent.legalBasis,
      JSON.stringify(consent.fields),
      initialConsentStatus,
      consent.requestKey,
      consent.noticeVersion,
      consent.durationSeconds,
      consent.createdAt,
      consent.expiresAt,
    ],
  );
  return rows[0] && toRecord(rows[0]);
}

/** The open request with this key, if any. */
export async function selectOpenRequest(
  client: PoolClient,
  requestKey: string,
): Promise<ConsentRecord | undefined> {
  const { rows } = await client.query<ConsentRow>(
    `SELECT * FROM consents WHERE request_key = $1 AND ${OPEN_REQUEST}`,
    [requestKey],
  );
  return rows[0] && toRecord(rows[0]);
}

/** Marks the open request with this key EXPIRED when it lapsed at `now`; returns the ids it marked. */
export async function expireLapsedRequest(
  client: PoolClient,
  requestKey: string,
  now: Date,
): Promise<string[]> {
  const { rows } = await client.query<{ id: string }>(
    `UPDATE consents SET status = ${sqlStatus('EXPIRED')}, updated_at = $2
      WHERE request_key = $1 AND ${OPEN_REQUEST} AND expires_at <= $2
      RETURNING id`,
    [requestKey, now],
  );
  return rows.map((r) => r.id);
}

/** One consent by id; `forUpdate` locks its row until the transaction ends. */
export async function selectConsent(
  db: Queryable,
  id: string,
  options: { forUpdate?: boolean } = {},
): Promise<ConsentRecord | undefined> {
  const { rows } = await db.query<ConsentRow>(
    `SELECT * FROM consents WHERE id = $1${options.forUpdate ? ' FOR UPDATE' : ''}`,
    [id],
  );
  return rows[0] && toRecord(rows[0]);
}

/** Every consent of one citizen, newest first. */
export async function selectConsentsOfCitizen(
  db: Queryable,
  citizenId: string,
  limit: number,
): Promise<ConsentRecord[]> {
  const { rows } = await db.query<ConsentRow>(
    'SELECT * FROM consents WHERE citizen_id = $1 ORDER BY created_at DESC, id LIMIT $2',
    [citizenId, limit],
  );
  return rows.map(toRecord);
}

/** Applies a change to a locked row and announces it on consent_changed; returns the updated record. */
export async function updateConsent(
  client: PoolClient,
  id: string,
  change: Pick<Change, 'to' | 'set'>,
  now: Date,
): Promise<ConsentRecord> {
  const columns = Object.keys(change.set) as (keyof ChangeSet)[];
  const values = columns.map((c) => (c === 'fields' ? JSON.stringify(change.set[c]) : change.set[c]));
  const assignments = columns.map((c, i) => `${changeColumns[c]} = $${i + 4}`);
  const { rows } = await client.query<ConsentRow>(
    `UPDATE consents SET status = $2, updated_at = $3${assignments.length ? ', ' + assignments.join(', ') : ''}
      WHERE id = $1 RETURNING *`,
    [id, change.to, now, ...values],
  );
  await client.query('SELECT pg_notify($1, $2)', [CONSENT_CHANGED_CHANNEL, id]);
  return toRecord(rows[0]!);
}

/** Appends one event to the consent's history. */
export async function insertEvent(client: PoolClient, consentId: string, event: ConsentEvent): Promise<void> {
  await client.query(
    `INSERT INTO consent_events (consent_id, from_status, to_status, actor_type, actor_id, at, details)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [
      consentId,
      event.from,
      event.to,
      event.actor.type,
      event.actor.id,
      event.at,
      JSON.stringify(event.details),
    ],
  );
}

/** A consent's history, oldest first. */
export async function selectEvents(db: Queryable, consentId: string): Promise<ConsentEvent[]> {
  const { rows } = await db.query<{
    from_status: ConsentStatus | null;
    to_status: ConsentStatus;
    actor_type: ConsentActor['type'];
    actor_id: string;
    at: Date;
    details: Record<string, unknown>;
  }>('SELECT * FROM consent_events WHERE consent_id = $1 ORDER BY id', [consentId]);
  return rows.map((r) => ({
    from: r.from_status,
    to: r.to_status,
    actor: { type: r.actor_type, id: r.actor_id },
    at: r.at.toISOString(),
    details: r.details,
  }));
}

/**
 * Marks up to `limit` records that lapsed by `now` EXPIRED, each with its event and a notification, in
 * one statement; rows another transaction holds are left for the next batch. Returns how many it marked.
 */
export async function expireLapsedBatch(
  pool: Pool,
  now: Date,
  limit: number,
  actor: ConsentActor,
): Promise<number> {
  const { rows } = await pool.query<{ id: string }>(
    `WITH due AS (
       SELECT id, status FROM consents
        WHERE ${EXPIRING} AND expires_at <= $1
        ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED),
     expired AS (
       UPDATE consents c SET status = ${sqlStatus('EXPIRED')}, updated_at = $1
         FROM due WHERE c.id = due.id
       RETURNING c.id, due.status AS from_status),
     events AS (
       INSERT INTO consent_events (consent_id, from_status, to_status, actor_type, actor_id, at, details)
       SELECT id, from_status, ${sqlStatus('EXPIRED')}, $3, $4, $1, '{}'::jsonb FROM expired)
     SELECT id, pg_notify($5, id::text) FROM expired`,
    [now, limit, actor.type, actor.id, CONSENT_CHANGED_CHANNEL],
  );
  return rows.length;
}

function toRecord(row: ConsentRow): ConsentRecord {
  return {
    id: row.id,
    citizenId: row.citizen_id,
    consumerId: row.consumer_id,
    purpose: row.purpose,
    purposeText: row.purpose_text,
    legalBasis: row.legal_basis,
    fields: row.fields,
    status: row.status,
    noticeVersion: row.notice_version,
    durationSeconds: row.duration_seconds,
    createdAt: row.created_at.toISOString(),
    decidedAt: row.decided_at?.toISOString() ?? null,
    grantedAt: row.granted_at?.toISOString() ?? null,
    expiresAt: row.expires_at.toISOString(),
    revokedAt: row.revoked_at?.toISOString() ?? null,
  };
}

/** How many consents are in each status, as of `now`: a record past its expiry counts as EXPIRED even before the sweep marks it. */
export async function countConsentsByStatus(
  db: Queryable,
  now: Date,
): Promise<Record<ConsentStatus, number>> {
  const { rows } = await db.query<{ status: ConsentStatus; n: string }>(
    `SELECT CASE WHEN ${EXPIRING} AND expires_at <= $1 THEN ${sqlStatus('EXPIRED')} ELSE status END AS status,
            count(*) AS n
       FROM consents GROUP BY 1`,
    [now],
  );
  const counts = Object.fromEntries(consentStatuses.map((status) => [status, 0])) as Record<
    ConsentStatus,
    number
  >;
  for (const row of rows) counts[row.status] = Number(row.n);
  return counts;
}
