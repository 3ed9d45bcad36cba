import { createHash, randomUUID } from 'node:crypto';
import { BadRequestError, withTransaction, type Pool, type PoolClient } from '@ndx/service-kit';
import type { ConsumerInfo, PurposeInfo } from './config.ts';
import {
  ConsentExpiredError,
  ConsentNotFoundError,
  InvalidTransitionError,
  NotDataSubjectError,
  UnknownConsumerError,
  UnknownPurposeError,
} from './errors.ts';

export type ConsentStatus = 'PENDING' | 'ACTIVE' | 'REJECTED' | 'REVOKED' | 'EXPIRED';

/** Which transitions the state machine allows (the database trigger enforces the same table). */
export const allowedTransitions: Record<ConsentStatus, readonly ConsentStatus[]> = {
  PENDING: ['ACTIVE', 'REJECTED', 'EXPIRED'],
  ACTIVE: ['REVOKED', 'EXPIRED'],
  REJECTED: [],
  REVOKED: [],
  EXPIRED: [],
};

/** One provider field, as the OE and the PDP name it. */
export interface FieldRef {
  providerKey: string;
  schemaId: string;
  field: string;
}

export interface RequestedField extends FieldRef {
  displayName?: string | undefined;
  description?: string | undefined;
}

/** A field of a consent record: what was shown, and whether the citizen granted it (null while pending). */
export interface ConsentField extends FieldRef {
  displayName: string;
  description?: string;
  granted: boolean | null;
}

export interface Actor {
  type: 'citizen' | 'service' | 'system';
  id: string;
}

export interface ConsentEvent {
  from: ConsentStatus | null;
  to: ConsentStatus;
  actor: Actor;
  at: string;
  details: Record<string, unknown>;
}

export interface ConsentRecord {
  id: string;
  citizenId: string;
  consumerId: string;
  purpose: string;
  purposeText: string;
  legalBasis: string;
  fields: ConsentField[];
  status: ConsentStatus;
  noticeVersion: string;
  durationSeconds: number;
  createdAt: string;
  decidedAt: string | null;
  grantedAt: string | null;
  expiresAt: string;
  revokedAt: string | null;
}

export interface CoverageResult {
  covered: boolean;
  /** The most recently granted active consent that covers part of the request. */
  consentId?: string;
  /** Every active consent that contributes to the covered fields. */
  consentIds: string[];
  missingFields: FieldRef[];
}

export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

export interface ConsentStoreOptions {
  pool: Pool;
  clock?: Clock;
  consumers: Record<string, ConsumerInfo>;
  purposes: Record<string, PurposeInfo>;
  durations: { consumerId: string; purpose: string; durationDays: number }[];
  pendingTtlSeconds: number;
  noticeVersion: string;
}

export interface ConsentRequest {
  citizenId: string;
  consumerId: string;
  purpose: string;
  fields: RequestedField[];
}

/** approve with fieldKeys undefined = every requested field; an empty decision is a deny. */
export type Decision = { approve: true; fieldKeys?: string[] } | { approve: false };

export const fieldKey = (f: FieldRef): string => `${f.providerKey}/${f.schemaId}/${f.field}`;

/** NICs compare without spaces and in upper case (852321234v = 852321234V), as FUDI's subjects do. */
export const normalizeCitizenId = (id: string): string => id.replace(/\s+/g, '').toUpperCase();

const DAY_SECONDS = 86_400;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const NOTIFY_CHANNEL = 'consent_changed';

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

/**
 * The consent records and their state machine. Every change locks the row in a transaction,
 * checks the transition, writes an event and notifies `consent_changed`; nothing is cached, so a
 * revocation is seen by the very next check.
 */
export class ConsentStore {
  readonly #pool: Pool;
  readonly #clock: Clock;
  readonly #options: ConsentStoreOptions;

  constructor(options: ConsentStoreOptions) {
    this.#pool = options.pool;
    this.#clock = options.clock ?? systemClock;
    this.#options = options;
  }

  now(): Date {
    return this.#clock.now();
  }

  consumer(consumerId: string): ConsumerInfo | undefined {
    return Object.hasOwn(this.#options.consumers, consumerId)
      ? this.#options.consumers[consumerId]
      : undefined;
  }

  /** How long a consent of this consumer for this purpose lasts once granted. */
  durationSeconds(consumerId: string, purpose: string): number {
    const override = this.#options.durations.find(
      (d) => d.consumerId === consumerId && d.purpose === purpose,
    );
    const days = override?.durationDays ?? this.#purpose(purpose).durationDays;
    return Math.round(days * DAY_SECONDS);
  }

  /** Which of the fields an active, unexpired consent of this citizen covers for this consumer and purpose. */
  async check(request: Omit<ConsentRequest, 'fields'> & { fields: FieldRef[] }): Promise<CoverageResult> {
    request = { ...request, citizenId: normalizeCitizenId(request.citizenId) };
    const { rows } = await this.#pool.query<ConsentRow>(
      `SELECT * FROM consents
        WHERE citizen_id = $1 AND consumer_id = $2 AND purpose = $3
          AND status = 'ACTIVE' AND expires_at > $4
        ORDER BY granted_at DESC, id`,
      [request.citizenId, request.consumerId, request.purpose, this.now()],
    );
    const grantedBy = new Map<string, string>();
    for (const row of rows) {
      for (const f of row.fields) {
        if (f.granted === true && !grantedBy.has(fieldKey(f))) grantedBy.set(fieldKey(f), row.id);
      }
    }
    const missingFields: FieldRef[] = [];
    const contributing = new Set<string>();
    for (const f of uniqueFields(request.fields)) {
      const by = grantedBy.get(fieldKey(f));
      if (by) contributing.add(by);
      else missingFields.push({ providerKey: f.providerKey, schemaId: f.schemaId, field: f.field });
    }
    const consentIds = rows.map((r) => r.id).filter((id) => contributing.has(id));
    return {
      covered: missingFields.length === 0 && request.fields.length > 0,
      ...(consentIds[0] ? { consentId: consentIds[0] } : {}),
      consentIds,
      missingFields,
    };
  }

  /**
   * Opens a pending request for the fields not yet covered, or reuses the open one for exactly the
   * same request. When everything is covered, returns the covering active consent instead.
   */
  async request(
    request: ConsentRequest,
    actor: Actor,
  ): Promise<{ consent: ConsentRecord; created: boolean }> {
    if (!this.consumer(request.consumerId)) throw new UnknownConsumerError(request.consumerId);
    request = { ...request, citizenId: normalizeCitizenId(request.citizenId) };
    const purpose = this.#purpose(request.purpose);
    const fields = uniqueFields(request.fields);
    if (fields.length === 0) throw new BadRequestError('at least one field is required');

    const coverage = await this.check({ ...request, fields });
    if (coverage.covered && coverage.consentId) {
      return { consent: await this.get(coverage.consentId), created: false };
    }
    const missing = new Set(coverage.missingFields.map(fieldKey));
    const wanted = fields.filter((f) => missing.has(fieldKey(f)));
    const requestKey = createHash('sha256')
      .update(
        JSON.stringify([request.citizenId, request.consumerId, request.purpose, wanted.map(fieldKey).sort()]),
      )
      .digest('hex');

    for (let attempt = 0; attempt < 5; attempt++) {
      const result = await withTransaction(this.#pool, async (client) => {
        const now = this.now();
        await this.#expireLapsedRequest(client, requestKey, now);
        const id = randomUUID();
        const inserted = await client.query<ConsentRow>(
          `INSERT INTO consents (id, citizen_id, consumer_id, purpose, purpose_text, legal_basis, fields,
             status, request_key, notice_version, duration_seconds, created_at, expires_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, 'PENDING', $8, $9, $10, $11, $12, $11)
           ON CONFLICT (request_key) WHERE status = 'PENDING' DO NOTHING
           RETURNING *`,
          [
            id,
            request.citizenId,
            request.consumerId,
            request.purpose,
            purpose.text,
            purpose.legalBasis,
            JSON.stringify(
              wanted.map((f) => ({
                providerKey: f.providerKey,
                schemaId: f.schemaId,
                field: f.field,
                displayName: f.displayName ?? readableFieldName(f.field),
                ...(f.description ? { description: f.description } : {}),
                granted: null,
              })),
            ),
            requestKey,
            this.#options.noticeVersion,
            this.durationSeconds(request.consumerId, request.purpose),
            now,
            new Date(now.getTime() + this.#options.pendingTtlSeconds * 1000),
          ],
        );
        if (inserted.rows[0]) {
          await recordEvent(client, id, null, 'PENDING', actor, now, {
            fields: wanted.map(fieldKey),
          });
          return { row: inserted.rows[0], created: true };
        }
        const open = await client.query<ConsentRow>(
          `SELECT * FROM consents WHERE request_key = $1 AND status = 'PENDING'`,
          [requestKey],
        );
        return open.rows[0] ? { row: open.rows[0], created: false } : undefined;
      });
      if (result) return { consent: toRecord(result.row), created: result.created };
    }
    throw new Error('could not open or find the pending consent request');
  }

  /** One consent; a pending or active one past its expiry reads as EXPIRED even before the sweep. */
  async get(id: string): Promise<ConsentRecord> {
    if (!UUID.test(id)) throw new ConsentNotFoundError(id);
    const { rows } = await this.#pool.query<ConsentRow>('SELECT * FROM consents WHERE id = $1', [id]);
    if (!rows[0]) throw new ConsentNotFoundError(id);
    return this.#withLapse(rows[0]);
  }

  async events(id: string): Promise<ConsentEvent[]> {
    const { rows } = await this.#pool.query<{
      from_status: ConsentStatus | null;
      to_status: ConsentStatus;
      actor_type: Actor['type'];
      actor_id: string;
      at: Date;
      details: Record<string, unknown>;
    }>('SELECT * FROM consent_events WHERE consent_id = $1 ORDER BY id', [id]);
    return rows.map((r) => ({
      from: r.from_status,
      to: r.to_status,
      actor: { type: r.actor_type, id: r.actor_id },
      at: r.at.toISOString(),
      details: r.details,
    }));
  }

  /** Every consent of one citizen, newest first. */
  async listForCitizen(citizenId: string, limit = 200): Promise<ConsentRecord[]> {
    const { rows } = await this.#pool.query<ConsentRow>(
      'SELECT * FROM consents WHERE citizen_id = $1 ORDER BY created_at DESC, id LIMIT $2',
      [normalizeCitizenId(citizenId), limit],
    );
    return rows.map((row) => this.#withLapse(row));
  }

  /** The data subject approves (all or some fields) or denies a pending request. */
  async decide(id: string, citizenId: string, decision: Decision): Promise<ConsentRecord> {
    citizenId = normalizeCitizenId(citizenId);
    const guard = (row: ConsentRow) => {
      if (row.citizen_id !== citizenId) throw new NotDataSubjectError();
    };
    return this.#transition(id, { type: 'citizen', id: citizenId }, guard, (row, now) => {
      if (!decision.approve) {
        return {
          to: 'REJECTED',
          set: { decided_at: now, fields: row.fields.map((f) => ({ ...f, granted: false })) },
          details: { noticeVersion: row.notice_version },
        };
      }
      const keys = new Set(decision.fieldKeys ?? row.fields.map(fieldKey));
      const known = new Set(row.fields.map(fieldKey));
      const unknown = [...keys].filter((k) => !known.has(k));
      if (unknown.length > 0) throw new BadRequestError('fields not in this request', { fields: unknown });
      if (keys.size === 0) throw new BadRequestError('choose at least one field to approve, or deny');
      const fields = row.fields.map((f) => ({ ...f, granted: keys.has(fieldKey(f)) }));
      return {
        to: 'ACTIVE',
        set: {
          decided_at: now,
          granted_at: now,
          expires_at: new Date(now.getTime() + row.duration_seconds * 1000),
          fields,
        },
        details: {
          noticeVersion: row.notice_version,
          granted: fields.filter((f) => f.granted).map(fieldKey),
          declined: fields.filter((f) => !f.granted).map(fieldKey),
        },
      };
    });
  }

  /** Ends an active consent. A citizen may revoke only their own; services (operators, OE) any. */
  async revoke(id: string, actor: Actor): Promise<ConsentRecord> {
    const guard = (row: ConsentRow) => {
      if (actor.type === 'citizen' && row.citizen_id !== normalizeCitizenId(actor.id))
        throw new NotDataSubjectError();
    };
    return this.#transition(id, actor, guard, (_row, now) => {
      return { to: 'REVOKED', set: { revoked_at: now }, details: {} };
    });
  }

  /** Marks every consent or request past its expiry EXPIRED, with an event each; returns how many. */
  async sweepExpired(batchSize = 500, maxBatches = 20): Promise<number> {
    let total = 0;
    for (let batch = 0; batch < maxBatches; batch++) {
      const now = this.now();
      const { rows } = await this.#pool.query<{ id: string }>(
        `WITH due AS (
           SELECT id, status FROM consents
            WHERE status IN ('PENDING', 'ACTIVE') AND expires_at <= $1
            ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED),
         expired AS (
           UPDATE consents c SET status = 'EXPIRED', updated_at = $1
             FROM due WHERE c.id = due.id
           RETURNING c.id, due.status AS from_status),
         events AS (
           INSERT INTO consent_events (consent_id, from_status, to_status, actor_type, actor_id, at, details)
           SELECT id, from_status, 'EXPIRED', 'system', 'expiry-sweep', $1, '{}'::jsonb FROM expired)
         SELECT id, pg_notify('${NOTIFY_CHANNEL}', id::text) FROM expired`,
        [now, batchSize],
      );
      total += rows.length;
      if (rows.length < batchSize) break;
    }
    return total;
  }

  #purpose(purpose: string): PurposeInfo {
    if (!Object.hasOwn(this.#options.purposes, purpose)) throw new UnknownPurposeError(purpose);
    return this.#options.purposes[purpose]!;
  }

  /** A pending/active row past its expiry reads as EXPIRED even before the sweep marks it. */
  #withLapse(row: ConsentRow): ConsentRecord {
    const record = toRecord(row);
    if ((row.status === 'PENDING' || row.status === 'ACTIVE') && row.expires_at <= this.now()) {
      return { ...record, status: 'EXPIRED' };
    }
    return record;
  }

  async #expireLapsedRequest(client: PoolClient, requestKey: string, now: Date): Promise<void> {
    const { rows } = await client.query<{ id: string }>(
      `UPDATE consents SET status = 'EXPIRED', updated_at = $2
        WHERE request_key = $1 AND status = 'PENDING' AND expires_at <= $2
        RETURNING id`,
      [requestKey, now],
    );
    for (const row of rows) {
      await recordEvent(client, row.id, 'PENDING', 'EXPIRED', { type: 'system', id: 'expiry' }, now, {});
    }
  }

  async #transition(
    id: string,
    actor: Actor,
    guard: (row: ConsentRow) => void,
    plan: (
      row: ConsentRow,
      now: Date,
    ) => {
      to: ConsentStatus;
      set: Partial<Omit<ConsentRow, 'id' | 'status'>>;
      details: Record<string, unknown>;
    },
  ): Promise<ConsentRecord> {
    if (!UUID.test(id)) throw new ConsentNotFoundError(id);
    const outcome = await withTransaction(this.#pool, async (client) => {
      const { rows } = await client.query<ConsentRow>('SELECT * FROM consents WHERE id = $1 FOR UPDATE', [
        id,
      ]);
      const row = rows[0];
      if (!row) throw new ConsentNotFoundError(id);
      guard(row);
      const now = this.now();
      const open = row.status === 'PENDING' || row.status === 'ACTIVE';
      if (open && row.expires_at <= now) {
        await updateStatus(client, row, 'EXPIRED', {}, now);
        await recordEvent(client, id, row.status, 'EXPIRED', { type: 'system', id: 'expiry' }, now, {});
        return { expired: true as const };
      }
      const change = plan(row, now);
      if (!allowedTransitions[row.status].includes(change.to)) {
        throw new InvalidTransitionError(id, row.status, change.to);
      }
      const updated = await updateStatus(client, row, change.to, change.set, now);
      await recordEvent(client, id, row.status, change.to, actor, now, change.details);
      return { expired: false as const, row: updated };
    });
    if (outcome.expired) throw new ConsentExpiredError(id);
    return toRecord(outcome.row);
  }
}

async function updateStatus(
  client: PoolClient,
  row: ConsentRow,
  to: ConsentStatus,
  set: Partial<Omit<ConsentRow, 'id' | 'status'>>,
  now: Date,
): Promise<ConsentRow> {
  const columns = Object.keys(set) as (keyof typeof set)[];
  const values = columns.map((c) => (c === 'fields' ? JSON.stringify(set[c]) : set[c]));
  const assignments = columns.map((c, i) => `${c} = $${i + 4}`);
  const { rows } = await client.query<ConsentRow>(
    `UPDATE consents SET status = $2, updated_at = $3${assignments.length ? ', ' + assignments.join(', ') : ''}
      WHERE id = $1 RETURNING *`,
    [row.id, to, now, ...values],
  );
  await client.query('SELECT pg_notify($1, $2)', [NOTIFY_CHANNEL, row.id]);
  return rows[0]!;
}

async function recordEvent(
  client: PoolClient,
  consentId: string,
  from: ConsentStatus | null,
  to: ConsentStatus,
  actor: Actor,
  at: Date,
  details: Record<string, unknown>,
): Promise<void> {
  await client.query(
    `INSERT INTO consent_events (consent_id, from_status, to_status, actor_type, actor_id, at, details)
     VALUES ($1, $2, $3, $4, $5, $6, $7)`,
    [consentId, from, to, actor.type, actor.id, at, JSON.stringify(details)],
  );
}

/** "birth.dateOfBirth" → "Date of birth": shown when the caller sent no display name. */
export function readableFieldName(field: string): string {
  const last = field.split('.').at(-1) ?? field;
  const words = last
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/[_-]+/g, ' ')
    .trim()
    .toLowerCase();
  return words ? words[0]!.toUpperCase() + words.slice(1) : field;
}

function uniqueFields<F extends FieldRef>(fields: F[]): F[] {
  const seen = new Map<string, F>();
  for (const f of fields) if (!seen.has(fieldKey(f))) seen.set(fieldKey(f), f);
  return [...seen.values()];
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
