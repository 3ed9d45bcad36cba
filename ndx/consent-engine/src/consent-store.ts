import { createHash, randomUUID } from 'node:crypto';
import {
  fieldKey,
  initialConsentStatus,
  type ConsentActor,
  type ConsentCheckResponse,
  type ConsentEvent,
  type ConsentStatus,
  type FieldRef,
} from '@ndx/contract';
import { BadRequestError, withTransaction, type Pool } from '@ndx/service-kit';
import { systemClock, type Clock } from './clock.ts';
import type { ConsumerInfo, PurposeInfo } from './config.ts';
import {
  asOf,
  decisionChange,
  expiryActor,
  expiryChange,
  isLapsed,
  requireDataSubject,
  requireTransition,
  revocationChange,
  sweepActor,
  type Change,
  type ConsentRecord,
  type Decision,
} from './consent-lifecycle.ts';
import {
  expireLapsedBatch,
  expireLapsedRequest,
  insertEvent,
  insertOpenRequest,
  selectActiveGrants,
  selectActiveGrantsOfMany,
  selectConsent,
  selectConsentsOfCitizen,
  selectEvents,
  selectOpenRequest,
  updateConsent,
  type ConsentSubject,
} from './consent-rows.ts';
import { coverageOf, uniqueFields } from './coverage.ts';
import type { OperatorRegistrations, RegisteredConsumerInfo } from './operator-registrations.ts';
import {
  ConsentExpiredError,
  ConsentNotFoundError,
  ConsumerDisabledError,
  UnknownConsumerError,
  UnknownPurposeError,
} from './errors.ts';

export interface ConsentStoreOptions {
  pool: Pool;
  clock?: Clock;
  consumers: Record<string, ConsumerInfo>;
  purposes: Record<string, PurposeInfo>;
  /** Registered at run time by operators; an entry here wins over the configured one. */
  registrations?: Pick<OperatorRegistrations, 'consumer' | 'purpose' | 'consumers'>;
  durations: { consumerId: string; purpose: string; durationDays: number }[];
  pendingTtlSeconds: number;
  noticeVersion: string;
}

/** A field as the citizen will be asked about it: the display name is decided before the request is opened. */
export interface NamedField extends FieldRef {
  displayName: string;
  description?: string | undefined;
}

/** A request for consent; citizenId is a canonical NIC (the API parses it). */
export interface NamedConsentRequest extends ConsentSubject {
  fields: NamedField[];
}

const DAY_SECONDS = 86_400;

/** Thrown inside a request's transaction to roll it back: an active consent covers the request already. */
class CoveredMeanwhile {
  readonly consentId: string;
  constructor(consentId: string) {
    this.consentId = consentId;
  }
}
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The consent records: coverage checks, requests, decisions, revocations and expiry. Every change locks
 * the row in a transaction, checks the transition (consent-lifecycle.ts), writes an event and notifies
 * `consent_changed`; nothing is cached, so a revocation is seen by the very next check.
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

  /** The consumer as registered (a disabled one included: citizens still see who holds their consents). */
  consumer(consumerId: string): RegisteredConsumerInfo | undefined {
    const registered = this.#options.registrations?.consumer(consumerId);
    if (registered) return registered;
    return Object.hasOwn(this.#options.consumers, consumerId)
      ? this.#options.consumers[consumerId]
      : undefined;
  }

  /** The configured consumers and the registered ones (which win), by id. */
  consumers(): Map<string, RegisteredConsumerInfo> {
    const all = new Map<string, RegisteredConsumerInfo>(Object.entries(this.#options.consumers));
    for (const [id, info] of this.#options.registrations?.consumers() ?? []) all.set(id, info);
    return all;
  }

  /** Which of the fields an active, unexpired consent of this citizen covers for this consumer and purpose. */
  async check(request: ConsentSubject & { fields: FieldRef[] }): Promise<ConsentCheckResponse> {
    const active = await selectActiveGrants(this.#pool, request, this.#clock.now());
    return coverageOf(active, request.fields);
  }

  /** `check` of each request, in one statement (one snapshot, taken after this call started). */
  async checkMany(
    requests: readonly (ConsentSubject & { fields: FieldRef[] })[],
  ): Promise<ConsentCheckResponse[]> {
    if (requests.length === 0) return [];
    const active = await selectActiveGrantsOfMany(this.#pool, requests, this.#clock.now());
    return requests.map((request, i) => coverageOf(active[i]!, request.fields));
  }

  /**
   * Opens a pending request for the fields not yet covered, or reuses the open one for exactly the
   * same request. When everything is covered, returns the covering active consent instead.
   */
  async request(
    request: NamedConsentRequest,
    actor: ConsentActor,
  ): Promise<{ consent: ConsentRecord; created: boolean }> {
    const consumer = this.consumer(request.consumerId);
    if (!consumer) throw new UnknownConsumerError(request.consumerId);
    if (consumer.disabledAt) throw new ConsumerDisabledError(request.consumerId);
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
        const now = this.#clock.now();
        for (const id of await expireLapsedRequest(client, requestKey, now)) {
          await insertEvent(client, id, event(initialConsentStatus, expiryChange, expiryActor, now));
        }
        const inserted = await insertOpenRequest(client, {
          id: randomUUID(),
          citizenId: request.citizenId,
          consumerId: request.consumerId,
          purpose: request.purpose,
          purposeText: purpose.text,
          legalBasis: purpose.legalBasis,
          fields: wanted.map((f) => ({
            providerKey: f.providerKey,
            schemaId: f.schemaId,
            field: f.field,
            displayName: f.displayName,
            ...(f.description ? { description: f.description } : {}),
            granted: null,
          })),
          requestKey,
          noticeVersion: this.#options.noticeVersion,
          durationSeconds: this.#durationSeconds(request.consumerId, request.purpose),
          createdAt: now,
          expiresAt: new Date(now.getTime() + this.#options.pendingTtlSeconds * 1000),
        });
        if (inserted) {
          // The coverage check above ran before this transaction: an approval of the open request committed
          // since then (the insert waited for it on the unique index) covers the fields already. Seen here, in
          // a later statement, it is answered instead, and the new request rolled back.
          const recheck = coverageOf(await selectActiveGrants(client, request, now), fields);
          if (recheck.covered && recheck.consentId) throw new CoveredMeanwhile(recheck.consentId);
          const opened = { to: inserted.status, details: { fields: wanted.map(fieldKey) } };
          await insertEvent(client, inserted.id, event(null, opened, actor, now));
          return { consent: inserted, created: true };
        }
        const open = await selectOpenRequest(client, requestKey);
        return open ? { consent: open, created: false } : undefined;
      }).catch((err: unknown) => {
        if (err instanceof CoveredMeanwhile) return { coveredBy: err.consentId };
        throw err;
      });
      if (result && 'coveredBy' in result)
        return { consent: await this.get(result.coveredBy), created: false };
      if (result) return result;
    }
    throw new Error('could not open or find the pending consent request');
  }

  /** One consent; a pending or active one past its expiry reads as EXPIRED even before the sweep. */
  async get(id: string): Promise<ConsentRecord> {
    const consent = UUID.test(id) ? await selectConsent(this.#pool, id) : undefined;
    if (!consent) throw new ConsentNotFoundError(id);
    return asOf(consent, this.#clock.now());
  }

  /** The consent's history, oldest first. */
  events(id: string): Promise<ConsentEvent[]> {
    return selectEvents(this.#pool, id);
  }

  /** Every consent of one citizen, newest first. */
  async listForCitizen(citizenId: string, limit = 200): Promise<ConsentRecord[]> {
    const now = this.#clock.now();
    return (await selectConsentsOfCitizen(this.#pool, citizenId, limit)).map((c) => asOf(c, now));
  }

  /** The data subject approves (all or some fields) or denies a pending request. */
  decide(id: string, citizenId: string, decision: Decision): Promise<ConsentRecord> {
    return this.#change(id, { type: 'citizen', id: citizenId }, (consent, now) =>
      decisionChange(consent, decision, now),
    );
  }

  /** Ends an active consent. A citizen may revoke only their own; services (operators, OE) any. */
  revoke(id: string, actor: ConsentActor): Promise<ConsentRecord> {
    return this.#change(id, actor, (_consent, now) => revocationChange(now));
  }

  /** Marks every consent or request past its expiry EXPIRED, with an event each; returns how many. */
  async sweepExpired(batchSize = 500, maxBatches = 20): Promise<number> {
    let total = 0;
    for (let batch = 0; batch < maxBatches; batch++) {
      const marked = await expireLapsedBatch(this.#pool, this.#clock.now(), batchSize, sweepActor);
      total += marked;
      if (marked < batchSize) break;
    }
    return total;
  }

  /** How long a consent of this consumer for this purpose lasts once granted. */
  #durationSeconds(consumerId: string, purpose: string): number {
    const override = this.#options.durations.find(
      (d) => d.consumerId === consumerId && d.purpose === purpose,
    );
    const days = override?.durationDays ?? this.#purpose(purpose).durationDays;
    return Math.round(days * DAY_SECONDS);
  }

  #purpose(purpose: string): PurposeInfo {
    const registered = this.#options.registrations?.purpose(purpose);
    if (registered) return registered;
    if (!Object.hasOwn(this.#options.purposes, purpose)) throw new UnknownPurposeError(purpose);
    return this.#options.purposes[purpose]!;
  }

  /**
   * Applies one change of the state machine in a transaction: lock, check the actor, record a lapse
   * instead when the consent expired meanwhile (then CONSENT_EXPIRED), check the transition, update,
   * record the event.
   */
  async #change(
    id: string,
    actor: ConsentActor,
    plan: (consent: ConsentRecord, now: Date) => Change,
  ): Promise<ConsentRecord> {
    if (!UUID.test(id)) throw new ConsentNotFoundError(id);
    const outcome = await withTransaction(this.#pool, async (client) => {
      const consent = await selectConsent(client, id, { forUpdate: true });
      if (!consent) throw new ConsentNotFoundError(id);
      requireDataSubject(consent, actor);
      const now = this.#clock.now();
      if (isLapsed(consent, now)) {
        await updateConsent(client, id, expiryChange, now);
        await insertEvent(client, id, event(consent.status, expiryChange, expiryActor, now));
        return { expired: true as const };
      }
      const change = plan(consent, now);
      requireTransition(consent, change.to);
      const updated = await updateConsent(client, id, change, now);
      await insertEvent(client, id, event(consent.status, change, actor, now));
      return { expired: false as const, consent: updated };
    });
    if (outcome.expired) throw new ConsentExpiredError(id);
    return outcome.consent;
  }
}

function event(
  from: ConsentStatus | null,
  change: Pick<Change, 'to' | 'details'>,
  actor: ConsentActor,
  at: Date,
): ConsentEvent {
  return { from, to: change.to, actor, at: at.toISOString(), details: change.details };
}
