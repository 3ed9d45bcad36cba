import type {
  AuditField,
  AuditOutcome,
  AuditProviderCall,
  AuditRecordInput,
  ReleasedField,
  WithheldField,
} from '@ndx/audit';
import { fieldKey, type EndUser } from '@ndx/contract';
import type { Consumer } from './consumer-auth.ts';
import type { FetchResult } from './fetching.ts';
import { fieldOfLeaf, type GateResult } from './gating.ts';
import type { LeafDelivery } from './merger.ts';
import type { FetchOutcome } from './provider-client.ts';
import type { QueryPlan } from './query-plan.ts';

/** Who asked and how the request is referred to: the same for every record of one request. */
export interface AuditRequestIdentity {
  /** NDX's own reference for the request (never the caller's): shown to citizens, returned to the consumer. */
  reference: string;
  /** The trace id of the OE's logs (the caller's, when it sent a traceparent). */
  traceId: string;
  /** The caller's traceparent header when it sent a valid one, kept for correlation. */
  callerTraceparent: string | null;
  consumer: Consumer;
  /** The end user the consumer asserted (NDX-End-User), not verified by NDX. */
  endUser: EndUser | null;
}

export interface AuditContext extends AuditRequestIdentity {
  operationName: string | undefined;
  plan: QueryPlan;
  gate: GateResult;
  /** Undefined when nothing was fetched (the gate failed). */
  fetch: FetchResult | undefined;
  /** What the merged answer holds for each released leaf; undefined when nothing was fetched. */
  delivery: LeafDelivery | undefined;
  timings: Record<string, number>;
}

/**
 * One audit record per data subject of the request (normally exactly one): what was asked, what was
 * released and what allowed it, what was withheld and why, who decided, the consent request opened for
 * what is missing, and how each provider answered. Never values. A field counts as released only when the
 * answer holds the provider's value for it: a field its provider failed on, or reported a GraphQL error on
 * (in an HTTP 200 answer too), is withheld with that reason, as it is null in the answer. A field inside a
 * list that failed in some elements and was delivered in others is both released and withheld.
 */
export function auditRecordsFor(context: AuditContext): AuditRecordInput[] {
  const { plan, gate, fetch, delivery } = context;
  const providers = (fetch?.calls ?? []).map((c) => providerCall(c.providerKey, c.outcome));
  const subjects = gate.subjects.length
    ? gate.subjects
    : [
        {
          subjectId: null,
          leafIds: plan.leaves.map((l) => l.id),
          decisionId: null,
          policyVersion: null,
          consentId: undefined,
          pendingConsent: undefined,
          allowedBy: new Map(),
        },
      ];

  return subjects.map((subject) => {
    const leaves = subject.leafIds.map((id) => plan.leaves[id]!);
    // Each provider field once, keyed by its fieldKey (in memory only: records store the fields themselves).
    const requested = new Map<string, AuditField>();
    const released = new Map<string, ReleasedField>();
    const withheld = new Map<string, WithheldField>();
    for (const leaf of leaves) {
      const field = fieldOfLeaf(leaf);
      const key = fieldKey(field);
      requested.set(key, field);
      const gateReason = gate.withheld.get(leaf.id)?.reason;
      if (gateReason) {
        withheld.set(key, { ...field, reason: gateReason });
        continue;
      }
      const failure = fetch && delivery ? delivery.failed.get(leaf.id) : 'INTERNAL_ERROR';
      if (failure && !withheld.has(key)) withheld.set(key, { ...field, reason: failure });
      if (!failure || delivery?.delivered.has(leaf.id)) {
        const allowedBy = subject.allowedBy.get(key);
        released.set(key, allowedBy ? { ...field, allowedBy } : field);
      }
    }
    const withheldList = [...withheld.values()];
    const releasedList = [...released.values()];
    const allowingConsents = new Set(
      releasedList.flatMap((f) => (f.allowedBy?.basis === 'consent' ? [f.allowedBy.consentId] : [])),
    );
    // The CE's newest covering consent when it allowed something released, else the first that did.
    const consentId =
      subject.consentId !== undefined && allowingConsents.has(subject.consentId)
        ? subject.consentId
        : ([...allowingConsents][0] ?? null);
    return {
      reference: context.reference,
      traceId: context.traceId,
      callerTraceparent: context.callerTraceparent,
      consumerId: context.consumer.consumerId,
      endUser: context.endUser,
      purpose: context.consumer.purpose,
      citizenId: subject.subjectId,
      operationName: context.operationName ?? null,
      fieldsRequested: [...requested.values()],
      fieldsReleased: releasedList,
      fieldsWithheld: withheldList,
      decisionId: subject.decisionId,
      policyVersion: subject.policyVersion,
      consentId,
      consentRequested: subject.pendingConsent?.consentId ?? null,
      providers,
      timings: roundTimings(context.timings),
      outcome: outcomeOf(releasedList.length, withheldList),
    };
  });
}

function outcomeOf(releasedCount: number, withheld: WithheldField[]): AuditOutcome {
  if (withheld.length === 0) return 'SUCCESS';
  if (releasedCount > 0) return 'PARTIAL';
  if (withheld.some((w) => w.reason === 'CONSENT_REQUIRED')) return 'CONSENT_REQUIRED';
  if (withheld.every((w) => w.reason === 'FORBIDDEN')) return 'DENIED';
  return 'ERROR';
}

function providerCall(providerKey: string, outcome: FetchOutcome): AuditProviderCall {
  const latencyMs = Math.max(0, outcome.latencyMs);
  const attempts = outcome.attempts > 0 ? { attempts: outcome.attempts } : {};
  if (outcome.ok) {
    const errors = outcome.errors.length > 0 ? { graphqlErrors: outcome.errors.length } : {};
    return { providerKey, latencyMs, outcome: 'OK', ...attempts, ...errors };
  }
  const status = outcome.status !== undefined && outcome.status >= 100 ? { httpStatus: outcome.status } : {};
  const mapped: AuditProviderCall['outcome'] =
    outcome.failure === 'circuit-open'
      ? 'CIRCUIT_OPEN'
      : outcome.failure === 'timeout'
        ? 'TIMEOUT'
        : outcome.failure === 'connection'
          ? 'UNAVAILABLE'
          : 'ERROR';
  return { providerKey, latencyMs, outcome: mapped, ...status, ...attempts };
}

function roundTimings(timings: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(timings).map(([k, v]) => [k, Math.round(Math.max(0, v) * 100) / 100]),
  );
}
