import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as cedar from '@cedar-policy/cedar-wasm/nodejs';
import { fieldKey, policyDenyReasons, type PolicyDenyReason } from '@ndx/contract';
import { NdxError } from '@ndx/service-kit';
import { timeDependence, type TimeDependence } from './decision-dependence.ts';
import type { Consumer, FieldMetadata, Grant, PolicyBundle } from './policy-model.ts';

export const policiesDir = join(import.meta.dirname, '..', 'policies');

/** The Cedar schema every policy set is validated against (policies/ndx.cedarschema). */
export const cedarSchemaText = readFileSync(join(policiesDir, 'ndx.cedarschema'), 'utf8');

export interface PolicyProblem {
  policyId: string | null;
  message: string;
  help: string | null;
}

/** A policy set or bundle Cedar rejected; details.problems carries Cedar's messages. */
export class PolicyInvalidError extends NdxError {
  readonly problems: PolicyProblem[];
  constructor(message: string, problems: PolicyProblem[]) {
    super('POLICY_INVALID', message, 422, { problems });
    this.problems = problems;
  }
}

type EntityJson = cedar.EntityJson;
type EntityUid = { type: string; id: string };

export const ACTION_READ: EntityUid = { type: 'Ndx::Action', id: 'read' };
export const ACTION_READ_WITH_CONSENT: EntityUid = { type: 'Ndx::Action', id: 'readWithConsent' };

/** A version ready to decide: policies preparsed inside Cedar, entities prebuilt. */
export interface CompiledPolicy {
  version: number;
  /** The id of the preparsed policy set inside the Cedar module. */
  policySetId: string;
  policyIds: string[];
  fields: Map<string, { metadata: FieldMetadata; entity: EntityJson; uid: EntityUid }>;
  consumers: Map<string, Consumer>;
  /**
   * True when some policy can depend on the data subject's value (more than `context has subject`), read from
   * Cedar's JSON form of the policies (see readsSubject).
   */
  readsSubject: boolean;
  /** Which parts of the time context the policies read, and what they compare them with (decision tables' validity). */
  timeDependence: TimeDependence;
  /** The deny reason each forbid policy names with `@reason("…")`; a forbid without one is POLICY_FORBIDS. */
  forbidReasons: Map<string, PolicyDenyReason>;
  /** The entities of one consumer asking for one purpose; built on first use, then cached. */
  principal(consumerId: string, purpose: string): PrincipalView | undefined;
}

/**
 * A consumer asking for one purpose: its entity carries only that purpose's grant terms, and the
 * field entities are members of that grant when granted. Small entities keep each Cedar call cheap.
 */
export interface PrincipalView {
  uid: EntityUid;
  entity: EntityJson;
  field(key: string): { uid: EntityUid; entity: EntityJson } | undefined;
  /** The grant data behind the entities, from which a DENY's reason is read. */
  terms: GrantTerms;
}

/** What the grant data says of one consumer asking for one purpose. */
export interface GrantTerms {
  /** The consumer registered the purpose. */
  purposeRegistered: boolean;
  /** When its grant for the purpose expires (ms since the epoch): undefined without a grant, null without expiry. */
  expiresAt: number | null | undefined;
  /** The legal basis its grant for the purpose names (undefined without a grant). */
  legalBasis: string | undefined;
  /** Its grant for the purpose names the field. */
  grants(key: string): boolean;
}

const POLICY_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;
/** The deny reasons a forbid policy may name with `@reason("…")`. */
const FORBID_REASONS: readonly PolicyDenyReason[] = policyDenyReasons.filter(
  (r) => r !== 'UNKNOWN_CONSUMER' && r !== 'UNKNOWN_FIELD',
);
const schemaPrepared = new Set<string>();
let compileCounter = 0;

/**
 * Splits a Cedar policy set into policies keyed by their @id annotation, with Cedar's JSON form of each, and
 * validates it (parse, unique ids, a known `@reason` on forbids only, strict validation against the schema).
 * Returns Cedar's messages.
 */
export function checkPolicies(text: string): {
  policies: Record<string, string>;
  parsed: Record<string, cedar.PolicyJson>;
  problems: PolicyProblem[];
} {
  const parsed: Record<string, cedar.PolicyJson> = {};
  const parts = cedar.policySetTextToParts(text);
  if (parts.type === 'failure') return { policies: {}, parsed, problems: parts.errors.map(toProblem(null)) };
  if (parts.policy_templates.length > 0) {
    return {
      policies: {},
      parsed,
      problems: [problem(null, 'policy templates are not supported; write static policies')],
    };
  }
  const policies: Record<string, string> = {};
  const problems: PolicyProblem[] = [];
  parts.policies.forEach((policyText, index) => {
    const json = cedar.policyToJson(policyText);
    if (json.type === 'failure') {
      problems.push(...json.errors.map(toProblem(null)));
      return;
    }
    const id = json.json.annotations?.id;
    if (!id) problems.push(problem(null, `policy number ${index + 1} has no @id("...") annotation`));
    else if (!POLICY_ID.test(id))
      problems.push(problem(id, `policy id "${id}" must be 1-100 of A-Z a-z 0-9 . _ -`));
    else if (policies[id] !== undefined) problems.push(problem(id, `policy id "${id}" is used twice`));
    else {
      policies[id] = policyText;
      parsed[id] = json.json;
      const reason = reasonProblem(json.json);
      if (reason) problems.push(problem(id, reason));
    }
  });
  if (problems.length > 0) return { policies, parsed, problems };
  if (Object.keys(policies).length === 0)
    return { policies, parsed, problems: [problem(null, 'the policy set is empty')] };
  const answer = cedar.validate({
    schema: cedarSchemaText,
    policies: { staticPolicies: policies },
    validationSettings: { mode: 'strict' },
  });
  if (answer.type === 'failure') return { policies, parsed, problems: answer.errors.map(toProblem(null)) };
  return {
    policies,
    parsed,
    problems: answer.validationErrors.map((e) => ({
      policyId: e.policyId,
      message: e.error.message,
      help: e.error.help,
    })),
  };
}

/** Checks the bundle's data (grants name known consumers and fields), then its policies. */
export function checkBundle(bundle: Omit<PolicyBundle, 'version'>): PolicyProblem[] {
  const problems: PolicyProblem[] = [];
  const fieldKeys = new Set(bundle.fields.map(fieldKey));
  const consumerIds = new Set(bundle.consumers.map((c) => c.consumerId));
  for (const grant of bundle.grants) {
    if (!consumerIds.has(grant.consumerId)) {
      problems.push(problem(null, `grant ${grant.consumerId}/${grant.purpose} names an unknown consumer`));
    }
    for (const f of grant.fields) {
      if (!fieldKeys.has(fieldKey(f))) {
        problems.push(
          problem(null, `grant ${grant.consumerId}/${grant.purpose} names unknown field ${fieldKey(f)}`),
        );
      }
    }
  }
  return [...problems, ...checkPolicies(bundle.policies).problems];
}

/**
 * Compiles a version once: validates it, preparses its policy set inside Cedar and builds
 * its entities. Decisions then never re-parse policies. Throws PolicyInvalidError.
 */
export function compileBundle(bundle: PolicyBundle): CompiledPolicy {
  const problems = checkBundle(bundle);
  if (problems.length > 0)
    throw new PolicyInvalidError(`policy version ${bundle.version} is invalid`, problems);
  const { policies, parsed } = checkPolicies(bundle.policies);
  ensureSchemaPrepared();
  const policySetId = `pdp-${process.pid}-${++compileCounter}-v${bundle.version}`;
  const prepared = cedar.preparsePolicySet(policySetId, { staticPolicies: policies });
  if (prepared.type === 'failure') {
    throw new PolicyInvalidError(
      'Cedar could not prepare the policy set',
      prepared.errors.map(toProblem(null)),
    );
  }

  const fields = new Map<string, { metadata: FieldMetadata; entity: EntityJson; uid: EntityUid }>();
  for (const metadata of bundle.fields) {
    const uid = fieldUid(metadata);
    fields.set(fieldKey(metadata), { metadata, uid, entity: fieldEntity(metadata, uid) });
  }
  const consumers = new Map(bundle.consumers.map((c) => [c.consumerId, c]));
  const grants = new Map(bundle.grants.map((g) => [`${g.consumerId}\u0000${g.purpose}`, g]));
  const views = new Map<string, PrincipalView>();

  // Every entity must match the schema; checked once here, not per decision.
  const grantsOfField = new Map<string, EntityUid[]>();
  for (const grant of bundle.grants) {
    for (const f of grant.fields)
      grantsOfField.set(fieldKey(f), [...(grantsOfField.get(fieldKey(f)) ?? []), grantUid(grant)]);
  }
  const allEntities: EntityJson[] = [...fields.entries()].map(([key, f]) =>
    fieldEntity(f.metadata, f.uid, grantsOfField.get(key)),
  );
  for (const consumer of bundle.consumers) {
    allEntities.push(
      consumerEntityJson(
        consumer,
        bundle.grants.filter((g) => g.consumerId === consumer.consumerId),
      ),
    );
  }
  const entityCheck = cedar.checkParseEntities({ entities: allEntities, schema: cedarSchemaText });
  if (entityCheck.type === 'failure') {
    throw new PolicyInvalidError(
      `policy version ${bundle.version} has data Cedar rejects`,
      entityCheck.errors.map(toProblem(null)),
    );
  }

  return {
    version: bundle.version,
    policySetId,
    policyIds: Object.keys(policies),
    fields,
    consumers,
    readsSubject: Object.values(parsed).some((json) => readsSubject(json.conditions)),
    timeDependence: timeDependence(Object.values(parsed).map((json) => json.conditions)),
    forbidReasons: new Map(
      Object.entries(parsed).flatMap(([id, json]) => {
        const reason = json.annotations?.['reason'];
        return json.effect === 'forbid' && isForbidReason(reason) ? [[id, reason] as const] : [];
      }),
    ),
    principal(consumerId, purpose) {
      const cacheKey = `${consumerId}\u0000${purpose}`;
      const cached = views.get(cacheKey);
      if (cached) return cached;
      const consumer = consumers.get(consumerId);
      if (!consumer) return undefined;
      const grant = grants.get(cacheKey);
      const granted = new Map<string, { uid: EntityUid; entity: EntityJson }>();
      if (grant) {
        for (const f of grant.fields) {
          const known = fields.get(fieldKey(f));
          if (known)
            granted.set(fieldKey(f), {
              uid: known.uid,
              entity: fieldEntity(known.metadata, known.uid, [grantUid(grant)]),
            });
        }
      }
      const view: PrincipalView = {
        uid: { type: 'Ndx::Consumer', id: consumerId },
        entity: consumerEntityJson(consumer, grant ? [grant] : []),
        field: (key) => granted.get(key) ?? fields.get(key),
        terms: {
          purposeRegistered: consumer.purposes.includes(purpose),
          expiresAt: grant ? (grant.expiresAt ? Date.parse(grant.expiresAt) : null) : undefined,
          legalBasis: grant?.legalBasis,
          grants: (key) => granted.has(key),
        },
      };
      if (views.size < 10_000) views.set(cacheKey, view);
      return view;
    },
  };
}

const isForbidReason = (value: unknown): value is PolicyDenyReason =>
  FORBID_REASONS.includes(value as PolicyDenyReason);

/** What is wrong with a policy's `@reason("…")` annotation, if anything. */
function reasonProblem(json: cedar.PolicyJson): string | undefined {
  const reason = json.annotations?.['reason'];
  if (reason === undefined) return undefined;
  if (json.effect !== 'forbid') return '@reason names why a forbid denies; a permit cannot have one';
  if (!isForbidReason(reason)) return `@reason must be one of ${FORBID_REASONS.join(', ')}`;
  return undefined;
}

/**
 * Whether policy conditions (Cedar's JSON form: `context.subject`, `context["subject"]` and any spacing or
 * comments all parse to `{".": {left: {Var: "context"}, attr: "subject"}}`) can depend on the data subject's
 * value. Conservative: `context` used any other way than reading another attribute or testing `has` counts
 * as reading the subject. (Whether a subject is present is always part of the decision memo's key.)
 */
export function readsSubject(node: unknown): boolean {
  if (Array.isArray(node)) return node.some(readsSubject);
  if (node === null || typeof node !== 'object') return false;
  const expression = node as Record<string, unknown>;
  if (expression['Var'] === 'context') return true;
  const [operator, operand] = Object.entries(expression).length === 1 ? Object.entries(expression)[0]! : [];
  if ((operator === '.' || operator === 'has') && isContextAccess(operand)) {
    const path = Array.isArray(operand.attr) ? operand.attr : [operand.attr];
    return operator === '.' ? operand.attr === 'subject' : path.length > 1 && path[0] === 'subject';
  }
  return Object.values(expression).some(readsSubject);
}

function isContextAccess(operand: unknown): operand is { left: { Var: 'context' }; attr: unknown } {
  if (operand === null || typeof operand !== 'object') return false;
  const { left, attr } = operand as { left?: unknown; attr?: unknown };
  return (
    typeof left === 'object' &&
    left !== null &&
    (left as { Var?: unknown }).Var === 'context' &&
    Object.keys(left).length === 1 &&
    (typeof attr === 'string' || Array.isArray(attr))
  );
}

function ensureSchemaPrepared(): void {
  if (schemaPrepared.has('ndx')) return;
  const answer = cedar.preparseSchema('ndx', cedarSchemaText);
  if (answer.type === 'failure') throw new Error(`the Cedar schema is invalid: ${answer.errors[0]?.message}`);
  schemaPrepared.add('ndx');
}

const grantUid = (g: { consumerId: string; purpose: string }): EntityUid => ({
  type: 'Ndx::Grant',
  id: `${g.consumerId}/${g.purpose}`,
});

function fieldUid(f: FieldMetadata): EntityUid {
  return { type: 'Ndx::ProviderField', id: fieldKey(f) };
}

function fieldEntity(f: FieldMetadata, uid: EntityUid, grants: EntityUid[] = []): EntityJson {
  return {
    uid,
    attrs: {
      providerKey: f.providerKey,
      schemaId: f.schemaId,
      path: f.field,
      classification: f.classification,
      owner: f.owner,
      consentRequired: f.consentRequired,
    },
    parents: [{ type: 'Ndx::Provider', id: f.providerKey }, ...grants],
  };
}

function consumerEntityJson(consumer: Consumer, grants: Grant[]): EntityJson {
  const tags: Record<string, cedar.CedarValueJson> = {};
  for (const grant of grants) {
    const value: Record<string, cedar.CedarValueJson> = {
      grant: { __entity: grantUid(grant) },
      legalBasis: grant.legalBasis,
    };
    if (grant.expiresAt)
      value.expiresAt = { __extn: { fn: 'datetime', arg: cedarDatetime(new Date(grant.expiresAt)) } };
    if (grant.window) value.window = { start: grant.window.start, end: grant.window.end };
    tags[grant.purpose] = value;
  }
  return {
    uid: { type: 'Ndx::Consumer', id: consumer.consumerId },
    attrs: {
      member: { __entity: { type: 'Ndx::Member', id: consumer.member } },
      purposes: consumer.purposes,
    },
    parents: [{ type: 'Ndx::Member', id: consumer.member }],
    tags,
  };
}

/** A Cedar datetime literal (UTC, millisecond precision). */
export function cedarDatetime(date: Date): string {
  return date.toISOString();
}

function toProblem(policyId: string | null) {
  return (e: cedar.DetailedError): PolicyProblem => ({ policyId, message: e.message, help: e.help });
}

function problem(policyId: string | null, message: string): PolicyProblem {
  return { policyId, message, help: null };
}
