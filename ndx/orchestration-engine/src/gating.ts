import type { ReleaseBasis, WithheldReason } from '@ndx/audit';
import { fieldKey, type DataSubjectRule, type FieldRef } from '@ndx/contract';
import { NdxError } from '@ndx/service-kit';
import type { Consumer } from './consumer-auth.ts';
import { leavesByDataSubject } from './data-subjects.ts';
import type { ConsentClient, PolicyClient } from './gate-clients.ts';
import type { Withholding } from './merger.ts';
import type { PlannedLeaf, QueryPlan } from './query-plan.ts';

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
  /** What allowed each released field (by fieldKey): the active consent covering it, or the policy (PERMIT). */
  allowedBy: Map<string, ReleaseBasis>;
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

/** What gating needs: the PDP, the CE, and the data-subject rules of fl-config.json. */
interface GateDeps {
  policy: PolicyClient;
  consent: ConsentClient;
  dataSubjects: readonly DataSubjectRule[];
}

/** What is known when the gate itself failed: every subject's fields, none released, no decision. */
export function undecidedGate(plan: QueryPlan, dataSubjects: readonly DataSubjectRule[]): GateResult {
  return {
    released: new Set(),
    withheld: new Map(),
    subjects: [...leavesByDataSubject(plan, dataSubjects)].map(([subjectId, leaves]) => ({
      subjectId,
      leafIds: leaves.map((l) => l.id),
      decisionId: null,
      policyVersion: null,
      consentId: undefined,
      pendingConsent: undefined,
      allowedBy: new Map(),
    })),
    timings: { pdpMs: 0, ceMs: 0 },
  };
}

/**
 * Decides every planned leaf: one PDP call per data subject (normally one per request) for all its
 * fields; for CONSENT_REQUIRED fields one CE coverage check, and when not covered a pending consent
 * request whose portal URL goes back to the consumer. Fields not released carry the reason.
 */
export async function gateQuery(plan: QueryPlan, consumer: Consumer, deps: GateDeps): Promise<GateResult> {
  const leavesBySubject = leavesByDataSubject(plan, deps.dataSubjects);
  const result: GateResult = {
    released: new Set(),
    withheld: new Map(),
    subjects: [],
    timings: { pdpMs: 0, ceMs: 0 },
  };
  await Promise.all(
    [...leavesBySubject].map(([subjectId, leaves]) => gateSubject(subjectId, leaves, consumer, deps, result)),
  );
  return result;
}

async function gateSubject(
  subjectId: string | null,
  leaves: PlannedLeaf[],
  consumer: Consumer,
  clients: Pick<GateDeps, 'policy' | 'consent'>,
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
  const decided = new Map(decision.fields.map((f) => [fieldKey(f), f]));

  const needConsent = fields.filter((f) => decided.get(fieldKey(f))?.decision === 'CONSENT_REQUIRED');
  const gate: SubjectGate = {
    subjectId,
    leafIds: leaves.map((l) => l.id),
    decisionId: decision.decisionId,
    policyVersion: String(decision.policyVersion),
    consentId: undefined,
    pendingConsent: undefined,
    allowedBy: new Map(),
  };
  const missing = new Set<string>();
  /** The active consent that covers each field (by fieldKey), as the CE says. */
  let coveredBy = new Map<string, string>();
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
      gate.consentId = coverage.consentId;
      coveredBy = new Map(coverage.coveredBy.map((c) => [fieldKey(c), c.consentId]));
      if (!coverage.covered) {
        const missingFields = coverage.missingFields.length ? coverage.missingFields : needConsent;
        for (const f of missingFields) missing.add(fieldKey(f));
        // The citizen is shown each field as the PDP's metadata describes it.
        const described = missingFields.map((f) => {
          const meta = decided.get(fieldKey(f));
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
    const key = fieldKey(fieldOfLeaf(leaf));
    const fieldDecision = decided.get(key)?.decision ?? 'DENY';
    if (fieldDecision === 'PERMIT') {
      result.released.add(leaf.id);
      const { policyIds = [], legalBasis } = decided.get(key) ?? {};
      gate.allowedBy.set(key, { basis: 'policy', policyIds, ...(legalBasis ? { legalBasis } : {}) });
    } else if (fieldDecision === 'CONSENT_REQUIRED' && subjectId === null) {
      result.withheld.set(leaf.id, {
        reason: 'FORBIDDEN',
        code: 'FORBIDDEN',
        message: 'this field needs a citizen’s consent, and the query names no citizen',
        extensions: { reason: 'POLICY_FORBIDS' },
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
      const consentId = coveredBy.get(key);
      if (consentId) gate.allowedBy.set(key, { basis: 'consent', consentId });
    } else {
      result.withheld.set(leaf.id, {
        reason: 'FORBIDDEN',
        code: 'FORBIDDEN',
        message: 'policy does not allow this consumer to read this field for this purpose',
        // Why, as the PDP says (docs/consumer-guide.md lists the reasons); a field it left out was not granted.
        extensions: { reason: decided.get(key)?.reason ?? 'NOT_GRANTED' },
      });
    }
  }
}

/** The provider field a planned leaf reads. */
export const fieldOfLeaf = (leaf: PlannedLeaf): FieldRef => ({
  providerKey: leaf.providerKey,
  schemaId: leaf.schemaId,
  field: leaf.providerField,
});

function distinctFields(leaves: PlannedLeaf[]): FieldRef[] {
  const seen = new Map<string, FieldRef>();
  for (const leaf of leaves) {
    const ref = fieldOfLeaf(leaf);
    seen.set(fieldKey(ref), ref);
  }
  return [...seen.values()];
}
