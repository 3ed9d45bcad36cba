import type {
  AuditField,
  AuditOutcome,
  AuditProviderCall,
  AuditRecordInput,
  WithheldField,
  WithheldReason,
} from '@ndx/audit';
import { fieldKey } from '@ndx/contract';
import type { Consumer } from './consumer-auth.ts';
import type { FetchResult } from './fetching.ts';
import { fieldOfLeaf, type GateResult } from './gating.ts';
import type { FetchOutcome } from './provider-client.ts';
import type { QueryPlan } from './query-plan.ts';

export interface AuditContext {
  traceId: string;
  consumer: Consumer;
  operationName: string | undefined;
  plan: QueryPlan;
  gate: GateResult;
  fetch: FetchResult | undefined;
  timings: Record<string, number>;
}

/**
 * One audit record per data subject of the request (normally exactly one): what was asked, what was
 * released and what was withheld and why, who decided, and how each provider answered. Never values.
 */
export function auditRecordsFor(context: AuditContext): AuditRecordInput[] {
  const { plan, gate, fetch } = context;
  const failedProvider = new Map<string, WithheldReason>();
  for (const call of fetch?.calls ?? []) {
    if (!call.outcome.ok) failedProvider.set(call.providerKey, call.outcome.code);
  }
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
        },
      ];

  return subjects.map((subject) => {
    const leaves = subject.leafIds.map((id) => plan.leaves[id]!);
    // Each provider field once, keyed by its fieldKey (in memory only: records store the fields themselves).
    const requested = new Map<string, AuditField>();
    const released = new Map<string, AuditField>();
    const withheld = new Map<string, WithheldField>();
    for (const leaf of leaves) {
      const field = fieldOfLeaf(leaf);
      const key = fieldKey(field);
      requested.set(key, field);
      const gateReason = gate.withheld.get(leaf.id)?.reason;
      const reason =
        gateReason ?? failedProvider.get(leaf.providerKey) ?? (fetch ? undefined : 'INTERNAL_ERROR');
      if (reason) withheld.set(key, { ...field, reason });
      else released.set(key, field);
    }
    const withheldList = [...withheld.values()];
    const releasedList = [...released].filter(([key]) => !withheld.has(key)).map(([, field]) => field);
    return {
      traceId: context.traceId,
      consumerId: context.consumer.consumerId,
      purpose: context.consumer.purpose,
      citizenId: subject.subjectId,
      operationName: context.operationName ?? null,
      fieldsRequested: [...requested.values()],
      fieldsReleased: releasedList,
      fieldsWithheld: withheldList,
      decisionId: subject.decisionId,
      policyVersion: subject.policyVersion,
      consentId: subject.pendingConsent?.consentId ?? subject.consentId ?? null,
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
  if (outcome.ok) return { providerKey, latencyMs, outcome: 'OK', ...attempts };
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
