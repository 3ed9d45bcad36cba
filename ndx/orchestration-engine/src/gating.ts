import type { WithheldReason } from '@ndx/audit';
import { normaliseNic, NdxError } from '@ndx/service-kit';
import type { Consumer } from './consumer-auth.ts';
import type { ConsentClient, FieldRef, PolicyClient } from './gate-clients.ts';
import type { PlannedLeaf, QueryPlan } from './planner.ts';
import type { Withholding } from './planner-merge.ts';

/** The part of a query that concerns one data subject (a citizen, or none for reference data and vehicles by number). */
export interface SubjectGate {
  subjectId: string | null;
  leafIds: number[];
  /** Null when no decision was taken (the PDP could not be reached). */
  decisionId: string | null;
  policyVersion: string | null;
  consentId: string | undefined;
  /** A consent request the citizen still has to answer, when one was needed. */
  pendingConsent: { consentId: string; consentPortalUrl: string } | undefined;
}

export interface GateResult {
  released: Set<number>;
  withheld: Map<number, Withholding & { reason: WithheldReason }>;
  subjects: SubjectGate[];
  timings: { pdpMs: number; ceMs: number };
}

/** PDP or CE could not answer: nothing is released (fail closed). */
export class GateUnavailableError extends NdxError {
  constructor(gate: 'policy' | 'consent', cause: unknown) {
    super(
      gate === 'policy' ? 'POLICY_UNAVAILABLE' : 'CONSENT_UNAVAILABLE',
      `the ${gate === 'policy' ? 'policy decision point' : 'consent engine'} could not be reached; no data was released`,
      503,
    );
    this.cause = cause;
  }
}

/** The data subject of a root field: the citizen's NIC (validated), or null when the root names no citizen. */
export function subjectOfRoot(fieldName: string, args: Record<string, unknown>): string | null {
  if (fieldName !== 'personInfo') return null;
  const nic = typeof args['nic'] === 'string' ? normaliseNic(args['nic']) : undefined;
  if (!nic) {
    throw new NdxError('BAD_USER_INPUT', 'nic must be a NIC: 9 digits and V or X, or 12 digits', 400, {
      argument: 'nic',
    });
  }
  return nic;
}

const fieldKey = (f: { providerKey: string; field: string }) => `${f.providerKey} ${f.field}`;

/** The planned leaves grouped by the data subject of their root field (the citizen, or null). */
export function leavesByDataSubject(plan: QueryPlan): Map<string | null, PlannedLeaf[]> {
  const subjectOfResponseKey = new Map<string, string | null>();
  for (const root of plan.rootFields) {
    subjectOfResponseKey.set(root.responseKey, subjectOfRoot(root.fieldName, root.arguments));
  }
  const leavesBySubject = new Map<string | null, PlannedLeaf[]>();
  for (const leaf of plan.leaves) {
    const subject = subjectOfResponseKey.get(leaf.unifiedPath[0] ?? '') ?? null;
    leavesBySubject.set(subject, [...(leavesBySubject.get(subject) ?? []), leaf]);
  }
  return leavesBySubject;
}

/** What is known when the gate itself failed: every subject's fields, none released, no decision. */
export function undecidedGate(plan: QueryPlan): GateResult {
  return {
    released: new Set(),
    withheld: new Map(),
    subjects: [...leavesByDataSubject(plan)].map(([subjectId, leaves]) => ({
      subjectId,
      leafIds: leaves.map((l) => l.id),
      decisionId: null,
      policyVersion: null,
      consentId: undefined,
      pendingConsent: undefined,
    })),
    timings: { pdpMs: 0, ceMs: 0 },
  };
}

/**
 * Decides every planned leaf: one PDP call per data subject (normally one per request) for all its
 * fields; for CONSENT_REQUIRED fields one CE coverage check, and when not covered a pending consent
 * request whose portal URL goes back to the consumer. Fields not released carry the reason.
 */
export async function gateQuery(
  plan: QueryPlan,
  consumer: Consumer,
  clients: { policy: PolicyClient; consent: ConsentClient },
): Promise<GateResult> {
  const leavesBySubject = leavesByDataSubject(plan);
  const result: GateResult = {
    released: new Set(),
    withheld: new Map(),
    subjects: [],
    timings: { pdpMs: 0, ceMs: 0 },
  };
  await Promise.all(
    [...leavesBySubject].map(([subjectId, leaves]) =>
      gateSubject(subjectId, leaves, consumer, clients, result),
    ),
  );
  return result;
}

async function gateSubject(
  subjectId: string | null,
  leaves: PlannedLeaf[],
  consumer: Consumer,
  clients: { policy: PolicyClient; consent: ConsentClient },
  result: GateResult,
): Promise<void> {
  const fields = distinctFields(leaves);
  const pdpStarted = performance.now();
  let decision;
  try {
    decision = await clients.policy.decide({
      consumerId: consumer.consumerId,
      purpose: consumer.purpose,
      subjectId,
      fields,
    });
  } catch (err) {
    throw new GateUnavailableError('policy', err);
  }
  result.timings.pdpMs += performance.now() - pdpStarted;
  const verdict = new Map(decision.fields.map((f) => [fieldKey(f), f.decision]));

  const needConsent = fields.filter((f) => verdict.get(fieldKey(f)) === 'CONSENT_REQUIRED');
  const gate: SubjectGate = {
    subjectId,
    leafIds: leaves.map((l) => l.id),
    decisionId: decision.decisionId,
    policyVersion: decision.policyVersion,
    consentId: undefined,
    pendingConsent: undefined,
  };
  const missing = new Set<string>();
  if (needConsent.length > 0 && subjectId !== null) {
    const ceStarted = performance.now();
    try {
      const request = {
        citizenId: subjectId,
        consumerId: consumer.consumerId,
        purpose: consumer.purpose,
        fields: needConsent,
      };
      const coverage = await clients.consent.check(request);
      gate.consentId = coverage.consentId ?? undefined;
      if (!coverage.covered) {
        const missingFields = coverage.missingFields.length ? coverage.missingFields : needConsent;
        for (const f of missingFields) missing.add(fieldKey(f));
        // The citizen is shown each field as the PDP's metadata describes it.
        const described = missingFields.map((f) => {
          const meta = decision.fields.find((d) => fieldKey(d) === fieldKey(f));
          return { ...f, displayName: meta?.displayName, description: meta?.description };
        });
        const pending = await clients.consent.requestConsent({ ...request, fields: described });
        gate.pendingConsent = { consentId: pending.consentId, consentPortalUrl: pending.consentPortalUrl };
      }
    } catch (err) {
      throw new GateUnavailableError('consent', err);
    }
    result.timings.ceMs += performance.now() - ceStarted;
  }
  result.subjects.push(gate);

  for (const leaf of leaves) {
    const key = fieldKey({ providerKey: leaf.providerKey, field: leaf.providerField });
    const fieldDecision = verdict.get(key) ?? 'DENY';
    if (fieldDecision === 'PERMIT') {
      result.released.add(leaf.id);
    } else if (fieldDecision === 'CONSENT_REQUIRED' && subjectId === null) {
      result.withheld.set(leaf.id, {
        reason: 'FORBIDDEN',
        code: 'FORBIDDEN',
        message: 'this field needs a citizen’s consent, and the query names no citizen',
      });
    } else if (fieldDecision === 'CONSENT_REQUIRED' && missing.has(key)) {
      result.withheld.set(leaf.id, {
        reason: 'CONSENT_REQUIRED',
        code: 'CONSENT_REQUIRED',
        message: 'the citizen has not consented to sharing this field with this consumer for this purpose',
        extensions: { ...gate.pendingConsent },
      });
    } else if (fieldDecision === 'CONSENT_REQUIRED') {
      result.released.add(leaf.id);
    } else {
      result.withheld.set(leaf.id, {
        reason: 'FORBIDDEN',
        code: 'FORBIDDEN',
        message: 'policy does not allow this consumer to read this field for this purpose',
      });
    }
  }
}

function distinctFields(leaves: PlannedLeaf[]): FieldRef[] {
  const seen = new Map<string, FieldRef>();
  for (const leaf of leaves) {
    const ref = { providerKey: leaf.providerKey, schemaId: leaf.schemaId, field: leaf.providerField };
    seen.set(fieldKey(ref), ref);
  }
  return [...seen.values()];
}
