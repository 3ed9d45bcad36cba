import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import {
  ACTION_READ,
  ACTION_READ_WITH_CONSENT,
  cedarDatetime,
  type CompiledPolicy,
} from './policy-compiler.ts';
import { fieldKey, type DecisionRequest, type FieldDecision } from './policy-model.ts';

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
 * allowed → CONSENT_REQUIRED; neither → DENY. Unknown fields and consumers are DENY.
 */
export function decideFields(
  compiled: CompiledPolicy,
  request: DecisionRequest,
  at: Date,
  timeZone: string,
  explain = false,
): EvaluatedDecision {
  const local = localTime(at, timeZone);
  const context: Record<string, cedar.CedarValueJson> = {
    purpose: request.purpose,
    now: { __extn: { fn: 'datetime', arg: cedarDatetime(at) } },
    minuteOfDay: local.minuteOfDay,
    date: local.date,
    dayOfWeek: local.dayOfWeek,
  };
  if (request.subjectId) context.subject = request.subjectId;
  const principal = compiled.principal(request.consumerId, request.purpose);
  const fields: FieldDecision[] = [];
  const explanations: FieldExplanation[] = [];

  for (const ref of request.fields) {
    const base = { providerKey: ref.providerKey, schemaId: ref.schemaId, field: ref.field };
    const field = principal?.field(fieldKey(ref));
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
    const entities = [principal.entity, field.entity];
    const ask = (action: { type: string; id: string }): ActionExplanation => {
      const answer = cedar.statefulIsAuthorized({
        principal: principal.uid,
        action,
        resource: field.uid,
        context,
        preparsedPolicySetId: compiled.policySetId,
        validateRequest: false,
        entities,
      });
      if (answer.type === 'failure') {
        return {
          allowed: false,
          determiningPolicies: [],
          errors: answer.errors.map((e) => ({ policyId: '', message: e.message })),
        };
      }
      const { decision, diagnostics } = answer.response;
      return {
        allowed: decision === 'allow',
        determiningPolicies: diagnostics.reason,
        errors: diagnostics.errors.map((e) => ({ policyId: e.policyId, message: e.error.message })),
      };
    };

    const read = ask(ACTION_READ);
    if (read.allowed) {
      fields.push({ ...base, decision: 'PERMIT', policyIds: read.determiningPolicies, reason: 'PERMITTED' });
      explanations.push({ read });
      continue;
    }
    const withConsent = ask(ACTION_READ_WITH_CONSENT);
    const policyIds = unique([...read.determiningPolicies, ...withConsent.determiningPolicies]);
    if (withConsent.allowed) {
      fields.push({ ...base, decision: 'CONSENT_REQUIRED', policyIds, reason: 'CONSENT_REQUIRED' });
    } else {
      const forbidden = withConsent.determiningPolicies.length > 0;
      fields.push({ ...base, decision: 'DENY', policyIds, reason: forbidden ? 'FORBIDDEN' : 'NOT_GRANTED' });
    }
    explanations.push({ read, readWithConsent: withConsent });
  }
  const described = fields.map((f) => withMetadata(compiled, f));
  return explain ? { fields: described, context, explanations } : { fields: described, context };
}

/** Adds the field's display name and description (what the citizen is shown when asked for consent). */
function withMetadata(compiled: CompiledPolicy, decision: FieldDecision): FieldDecision {
  const metadata = compiled.fields.get(fieldKey(decision))?.metadata;
  if (!metadata) return decision;
  return {
    ...decision,
    displayName: metadata.displayName,
    ...(metadata.description ? { description: metadata.description } : {}),
  };
}

function unique(ids: string[]): string[] {
  return [...new Set(ids)];
}
