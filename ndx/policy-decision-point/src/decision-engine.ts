import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import {
  fieldKey,
  fieldRefOf,
  policyDenyReasons,
  type FieldDecision,
  type FieldRef,
  type PolicyDecisionRequest,
  type PolicyDenyReason,
} from '@ndx/contract';
import {
  ACTION_READ,
  ACTION_READ_WITH_CONSENT,
  cedarDatetime,
  type CompiledPolicy,
  type GrantTerms,
} from './policy-compiler.ts';

/** Local time of day and date in the policy time zone (Farajaland time). */
export interface LocalTime {
  minuteOfDay: number;
  date: string;
  dayOfWeek: number;
}

/** What Cedar said for one action on one field (explain mode). */
export interface ActionExplanation {
  allowed: boolean;
  /** The policies that determined the answer: satisfied permits when allowed, satisfied forbids when denied. */
  determiningPolicies: string[];
  /** Policies that failed to evaluate (they are skipped by Cedar, so they neither permit nor forbid). */
  errors: { policyId: string; message: string }[];
}

export interface FieldExplanation {
  read?: ActionExplanation;
  readWithConsent?: ActionExplanation;
}

export interface EvaluatedDecision {
  fields: FieldDecision[];
  context: Record<string, unknown>;
  explanations?: FieldExplanation[];
}

const formatters = new Map<string, Intl.DateTimeFormat>();
const WEEKDAYS: Record<string, number> = { Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6, Sun: 7 };

export function localTime(at: Date, timeZone: string): LocalTime {
  let formatter = formatters.get(timeZone);
  if (!formatter) {
    formatter = new Intl.DateTimeFormat('en-GB', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      weekday: 'short',
    });
    formatters.set(timeZone, formatter);
  }
  const parts: Record<string, string> = {};
  for (const part of formatter.formatToParts(at)) parts[part.type] = part.value;
  return {
    minuteOfDay: Number(parts.hour) * 60 + Number(parts.minute),
    date: `${parts.year}-${parts.month}-${parts.day}`,
    dayOfWeek: WEEKDAYS[parts.weekday ?? ''] ?? 0,
  };
}

/** Throws a clear error at start-up when the configured time zone is not one the runtime knows. */
export function assertTimeZone(timeZone: string): void {
  new Intl.DateTimeFormat('en-GB', { timeZone });
}

/**
 * Decides each requested field against one compiled version. Per field, Cedar evaluates
 * `read`; if it is denied, `readWithConsent`. read allowed → PERMIT; only readWithConsent
 * allowed → CONSENT_REQUIRED; neither → DENY, with its reason (see denyReason). Unknown fields and consumers
 * are DENY.
 */
export function decideFields(
  compiled: CompiledPolicy,
  request: PolicyDecisionRequest,
  at: Date,
  timeZone: string,
  explain = false,
): EvaluatedDecision {
  // Decisions are taken at one-second resolution, which makes them reusable within that second (see memo).
  const second = Math.floor(at.getTime() / 1000);
  const evaluatedAt = new Date(second * 1000);
  const local = localTime(evaluatedAt, timeZone);
  const context: Record<string, cedar.CedarValueJson> = {
    purpose: request.purpose,
    now: { __extn: { fn: 'datetime', arg: cedarDatetime(evaluatedAt) } },
    minuteOfDay: local.minuteOfDay,
    date: local.date,
    dayOfWeek: local.dayOfWeek,
  };
  if (request.subjectId) context.subject = request.subjectId;
  const principal = compiled.principal(request.consumerId, request.purpose);
  const answers = explain ? undefined : memoFor(compiled, second, timeZone);
  const subjectKey = !request.subjectId ? '-' : compiled.readsSubject ? `s:${request.subjectId}` : 's';
  const fields: FieldDecision[] = [];
  const explanations: FieldExplanation[] = [];

  for (const ref of request.fields) {
    const key = fieldKey(ref);
    const base = described(compiled, key, fieldRefOf(ref));
    const field = principal?.field(key);
    if (!principal || !field) {
      fields.push({
        ...base,
        decision: 'DENY',
        policyIds: [],
        reason: principal ? 'UNKNOWN_FIELD' : 'UNKNOWN_CONSUMER',
      });
      explanations.push({});
      continue;
    }
    const cedarCall = {
      principal: principal.uid,
      resource: field.uid,
      context,
      preparsedPolicySetId: compiled.policySetId,
      entities: [principal.entity, field.entity],
    };
    const memoPrefix = `${request.consumerId}\u0000${request.purpose}\u0000${key}\u0000${subjectKey}\u0000`;
    const ask = (action: { type: string; id: string }): ActionExplanation =>
      remembered(answers, memoPrefix + action.id, cedarCall, action);
    const read = ask(ACTION_READ);
    if (read.allowed) {
      const legalBasis = principal.terms.legalBasis;
      fields.push({
        ...base,
        decision: 'PERMIT',
        policyIds: read.determiningPolicies,
        reason: 'PERMITTED',
        ...(legalBasis ? { legalBasis } : {}),
      });
      explanations.push({ read });
      continue;
    }
    const withConsent = ask(ACTION_READ_WITH_CONSENT);
    const policyIds = unique([...read.determiningPolicies, ...withConsent.determiningPolicies]);
    if (withConsent.allowed) {
      fields.push({ ...base, decision: 'CONSENT_REQUIRED', policyIds, reason: 'CONSENT_REQUIRED' });
    } else {
      const reason = denyReason(compiled, principal.terms, key, evaluatedAt, [read, withConsent]);
      fields.push({ ...base, decision: 'DENY', policyIds, reason });
    }
    explanations.push({ read, readWithConsent: withConsent });
  }
  return explain ? { fields, context, explanations } : { fields, context };
}

/**
 * Why a field was denied. First what the grant data says, as the `grant` permit reads it (these deny the field
 * at any time of day): the purpose is not registered, no grant names the field, the grant has expired.
 * Otherwise the determining forbids of each action: the reason each names with `@reason("…")` (POLICY_FORBIDS
 * without one). The reasons are ordered from the longest lasting to the shortest (policyDenyReasons): an action
 * stays denied as long as the longest lasting of its forbids, and the field as long as the shorter of its two
 * actions, which is the reason given. An action denied with no forbid had no permit: NOT_GRANTED.
 */
function denyReason(
  compiled: CompiledPolicy,
  terms: GrantTerms,
  key: string,
  at: Date,
  actions: ActionExplanation[],
): PolicyDenyReason {
  if (!terms.purposeRegistered) return 'PURPOSE_NOT_REGISTERED';
  if (terms.expiresAt === undefined || !terms.grants(key)) return 'NOT_GRANTED';
  if (terms.expiresAt !== null && at.getTime() >= terms.expiresAt) return 'GRANT_EXPIRED';
  const rank = (reason: PolicyDenyReason) => policyDenyReasons.indexOf(reason);
  const actionReason = (action: ActionExplanation): PolicyDenyReason =>
    action.determiningPolicies
      .map((id) => compiled.forbidReasons.get(id) ?? 'POLICY_FORBIDS')
      .reduce<PolicyDenyReason | undefined>(
        (a, b) => (a === undefined || rank(b) < rank(a) ? b : a),
        undefined,
      ) ?? 'NOT_GRANTED';
  return actions.map(actionReason).reduce((a, b) => (rank(b) > rank(a) ? b : a));
}

/** The field with its display name and description (what a citizen is shown when asked for consent). */
function described(
  compiled: CompiledPolicy,
  key: string,
  ref: FieldRef,
): FieldRef & { displayName?: string; description?: string } {
  const metadata = compiled.fields.get(key)?.metadata;
  if (!metadata) return ref;
  return metadata.description
    ? { ...ref, displayName: metadata.displayName, description: metadata.description }
    : { ...ref, displayName: metadata.displayName };
}

/**
 * Cedar answers for the current second of one compiled version. Every input of a decision is in the key
 * (consumer, purpose, field, action, whether there is a subject, and the subject itself when a policy can
 * read it, as Cedar's JSON form of the policies says: CompiledPolicy.readsSubject) or fixed for that second
 * (the time context, the compiled policies and entities), so a remembered answer is exactly the one Cedar
 * would give again.
 */
const MEMO_LIMIT = 20_000;
const memo = { second: -1, version: '', answers: new Map<string, ActionExplanation>() };

function memoFor(compiled: CompiledPolicy, second: number, timeZone: string): Map<string, ActionExplanation> {
  const version = `${compiled.policySetId}\u0000${timeZone}`;
  if (memo.second !== second || memo.version !== version) {
    memo.second = second;
    memo.version = version;
    memo.answers = new Map();
  }
  return memo.answers;
}

interface CedarCall {
  principal: cedar.EntityUid;
  resource: cedar.EntityUid;
  context: Record<string, cedar.CedarValueJson>;
  preparsedPolicySetId: string;
  entities: cedar.EntityJson[];
}

/** The remembered answer for key, or Cedar's (then remembered, within the memo's bound). */
function remembered(
  memo: Map<string, ActionExplanation> | undefined,
  key: string,
  call: CedarCall,
  action: { type: string; id: string },
): ActionExplanation {
  if (memo !== undefined) {
    const known = memo.get(key);
    if (known !== undefined) return known;
  }
  const explanation = evaluateAction(call, action);
  if (memo !== undefined && memo.size < MEMO_LIMIT) memo.set(key, explanation);
  return explanation;
}

function evaluateAction(call: CedarCall, action: { type: string; id: string }): ActionExplanation {
  const answer = cedar.statefulIsAuthorized({
    principal: call.principal,
    action,
    resource: call.resource,
    context: call.context,
    preparsedPolicySetId: call.preparsedPolicySetId,
    validateRequest: false,
    entities: call.entities,
  });
  if (answer.type === 'failure') {
    const errors: ActionExplanation['errors'] = [];
    for (const e of answer.errors) errors.push({ policyId: '', message: e.message });
    return { allowed: false, determiningPolicies: [], errors };
  }
  const { decision, diagnostics } = answer.response;
  const errors: ActionExplanation['errors'] = [];
  for (const e of diagnostics.errors) errors.push({ policyId: e.policyId, message: e.error.message });
  return { allowed: decision === 'allow', determiningPolicies: [...diagnostics.reason], errors };
}

function unique(ids: string[]): string[] {
  return [...new Set(ids)];
}
