import { describe, expect, it } from 'vitest';
import { parse } from 'graphql';
import { toAuditContent, type AuditRecordInput, type ReleaseBasis } from '@ndx/audit';
import { auditRecordsFor, type AuditContext } from '../src/audit-record.ts';
import type { FetchResult, ProviderFetch } from '../src/fetching.ts';
import { loadFlConfig } from '../src/fl-config.ts';
import { fieldKey } from '@ndx/contract';
import type { GateResult, SubjectGate } from '../src/gating.ts';
import { fieldOfLeaf } from '../src/gating.ts';
import { mergeResults, newLeafDelivery } from '../src/merger.ts';
import { planQuery } from '../src/planner.ts';
import type { FetchOutcome } from '../src/provider-client.ts';
import type { QueryPlan } from '../src/query-plan.ts';
import { loadUnifiedSchema } from '../src/schema.ts';

const { schema } = loadUnifiedSchema();
const { argMappings } = loadFlConfig(undefined, { env: {} });
const NIC = '199012345678';
const consumer = { consumerId: 'passport-app', purpose: 'passport-application' };

/** fullName twice (one provider field), name from RGD, the vehicles' make from DMT. */
const QUERY =
  'query Passport($nic: ID!) { personInfo(nic: $nic) { fullName again: fullName name ownedVehicles { make } } }';

function plan(query = QUERY, variables: Record<string, unknown> = { nic: NIC }): QueryPlan {
  return planQuery(schema, argMappings, { document: parse(query), variables });
}

/** The gate of the query's one citizen: every field allowed by consent `consent-1` unless overridden. */
function subject(p: QueryPlan, overrides: Partial<SubjectGate> = {}): SubjectGate {
  return {
    subjectId: NIC,
    leafIds: p.leaves.map((l) => l.id),
    decisionId: 'dec-1',
    policyVersion: '7',
    consentId: 'consent-1',
    pendingConsent: undefined,
    allowedBy: new Map(
      p.leaves.map((l) => [fieldKey(fieldOfLeaf(l)), { basis: 'consent' as const, consentId: 'consent-1' }]),
    ),
    ...overrides,
  };
}

/** A gate that releases every leaf except those `withhold` names (by provider field) with the given reason. */
function gate(
  p: QueryPlan,
  withhold: Record<string, 'FORBIDDEN' | 'CONSENT_REQUIRED'> = {},
  subjects: SubjectGate[] = [subject(p)],
): GateResult {
  const result: GateResult = {
    released: new Set(),
    withheld: new Map(),
    subjects,
    timings: { pdpMs: 1, ceMs: 1 },
  };
  for (const leaf of p.leaves) {
    const reason = withhold[leaf.providerField];
    if (reason) result.withheld.set(leaf.id, { reason, code: reason, message: 'withheld' });
    else result.released.add(leaf.id);
  }
  return result;
}

const ok = (latencyMs: number, data: unknown = {}): FetchOutcome => ({
  ok: true,
  data: data as Record<string, unknown>,
  errors: [],
  latencyMs,
  attempts: 1,
});

function fetched(calls: Record<string, FetchOutcome>): FetchResult {
  const list: ProviderFetch[] = Object.entries(calls).map(([providerKey, outcome]) => ({
    providerKey,
    outcome,
  }));
  const outcomes: FetchResult['outcomes'] = {};
  for (const { providerKey, outcome } of list) {
    outcomes[providerKey] = outcome.ok
      ? { ok: true, data: outcome.data, errors: outcome.errors }
      : { ok: false, code: outcome.code, message: outcome.message };
  }
  return { outcomes, calls: list };
}

/** The records of a query, with what the answer holds as the real merger reports it. */
function records(context: Partial<AuditContext> & Pick<AuditContext, 'plan' | 'gate'>): AuditRecordInput[] {
  const full = {
    reference: 'ref-1',
    traceId: 'trace-1',
    callerTraceparent: null,
    consumer,
    endUser: null,
    operationName: 'Passport',
    fetch: undefined,
    timings: {},
    ...context,
  };
  let delivery = context.delivery;
  if (!delivery && full.fetch) {
    delivery = newLeafDelivery();
    mergeResults(full.plan, {
      outcomes: full.fetch.outcomes,
      withheld: (leaf) => full.gate.withheld.get(leaf.id),
      delivery,
    });
  }
  return auditRecordsFor({ ...full, delivery });
}

const byConsent = (consentId: string) => ({ basis: 'consent' as const, consentId });

const drpName = { providerKey: 'drp', schemaId: 'drp-schema-v1', field: 'person.fullName' };
const rgdName = { providerKey: 'rgd', schemaId: 'abc-212', field: 'getPersonInfo.fullName' };
const dmtMake = { providerKey: 'dmt', schemaId: 'dmt-schema-v1', field: 'vehiclesByOwner.make' };

describe('the audit record of a query', () => {
  it('records a fully released query: each provider field once, the decision, every provider call and rounded timings', () => {
    const p = plan();
    const [record, ...more] = records({
      plan: p,
      gate: gate(p),
      fetch: fetched({
        drp: ok(12.5, { personInfo: { fullName: 'Amara Perera' } }),
        rgd: ok(8),
        dmt: ok(20.25),
      }),
      timings: { plan: 0.123456, pdp: 3.456, 'provider.drp': -1 },
    });
    expect(more).toEqual([]);
    const released = [drpName, rgdName, dmtMake].map((f) => ({ ...f, allowedBy: byConsent('consent-1') }));
    expect(record).toEqual({
      reference: 'ref-1',
      traceId: 'trace-1',
      callerTraceparent: null,
      consumerId: 'passport-app',
      endUser: null,
      purpose: 'passport-application',
      citizenId: NIC,
      operationName: 'Passport',
      fieldsRequested: [drpName, rgdName, dmtMake],
      fieldsReleased: released,
      fieldsWithheld: [],
      decisionId: 'dec-1',
      policyVersion: '7',
      consentId: 'consent-1',
      consentRequested: null,
      providers: [
        { providerKey: 'drp', latencyMs: 12.5, outcome: 'OK', attempts: 1 },
        { providerKey: 'rgd', latencyMs: 8, outcome: 'OK', attempts: 1 },
        { providerKey: 'dmt', latencyMs: 20.25, outcome: 'OK', attempts: 1 },
      ],
      timings: { plan: 0.12, pdp: 3.46, 'provider.drp': 0 },
      outcome: 'SUCCESS',
    });
    // What the audit log stores accepts it as it is.
    expect(toAuditContent(record!, new Date('2026-01-01T00:00:00Z'))).toMatchObject({
      reference: 'ref-1',
      citizenId: NIC,
      fieldsReleased: released,
      outcome: 'SUCCESS',
    });
  });

  it('records a withheld field with its reason and the query as PARTIAL', () => {
    const p = plan();
    const [record] = records({
      plan: p,
      gate: gate(p, { 'getPersonInfo.fullName': 'FORBIDDEN' }),
      fetch: fetched({ drp: ok(1), dmt: ok(1) }),
    });
    expect(record!.fieldsReleased).toEqual([
      { ...drpName, allowedBy: byConsent('consent-1') },
      { ...dmtMake, allowedBy: byConsent('consent-1') },
    ]);
    expect(record!.fieldsWithheld).toEqual([{ ...rgdName, reason: 'FORBIDDEN' }]);
    expect(record!.outcome).toBe('PARTIAL');
  });

  it('records a query whose every field awaits consent as CONSENT_REQUIRED, naming the pending consent as asked for and none as allowing', () => {
    const p = plan();
    const pending = { consentId: 'pending-7', consentPortalUrl: 'http://127.0.0.1:8081/consent/pending-7' };
    const [record] = records({
      plan: p,
      gate: gate(
        p,
        {
          'person.fullName': 'CONSENT_REQUIRED',
          'getPersonInfo.fullName': 'CONSENT_REQUIRED',
          'vehiclesByOwner.make': 'CONSENT_REQUIRED',
        },
        [subject(p, { consentId: undefined, pendingConsent: pending, allowedBy: new Map() })],
      ),
      fetch: fetched({}),
    });
    expect(record!.fieldsReleased).toEqual([]);
    expect(record!.fieldsWithheld!.map((w) => [w.field, w.reason])).toEqual([
      ['person.fullName', 'CONSENT_REQUIRED'],
      ['getPersonInfo.fullName', 'CONSENT_REQUIRED'],
      ['vehiclesByOwner.make', 'CONSENT_REQUIRED'],
    ]);
    expect(record!.consentRequested).toBe('pending-7');
    expect(record!.consentId).toBeNull();
    expect(record!.providers).toEqual([]);
    expect(record!.outcome).toBe('CONSENT_REQUIRED');
  });

  it('records a query whose every field is forbidden as DENIED', () => {
    const p = plan('query($nic: ID!) { personInfo(nic: $nic) { fullName name } }');
    const [record] = records({
      plan: p,
      gate: gate(p, { 'person.fullName': 'FORBIDDEN', 'getPersonInfo.fullName': 'FORBIDDEN' }),
      fetch: fetched({}),
    });
    expect(record!.fieldsWithheld!.map((w) => w.reason)).toEqual(['FORBIDDEN', 'FORBIDDEN']);
    expect(record!.outcome).toBe('DENIED');
  });

  it('withholds the fields of a failed provider with its failure and records how each call ended', () => {
    const p = plan();
    const failed = (
      code: 'PROVIDER_UNAVAILABLE' | 'PROVIDER_ERROR',
      failure: 'circuit-open' | 'timeout' | 'connection' | 'status',
      attempts: number,
      status?: number,
    ): FetchOutcome => ({
      ok: false,
      code,
      failure,
      message: failure,
      latencyMs: 30,
      attempts,
      ...(status ? { status } : {}),
    });
    const [record] = records({
      plan: p,
      gate: gate(p),
      fetch: fetched({
        drp: failed('PROVIDER_UNAVAILABLE', 'timeout', 1),
        rgd: failed('PROVIDER_ERROR', 'status', 1, 500),
        dmt: failed('PROVIDER_UNAVAILABLE', 'circuit-open', 0),
      }),
    });
    expect(record!.fieldsWithheld).toEqual([
      { ...drpName, reason: 'PROVIDER_UNAVAILABLE' },
      { ...rgdName, reason: 'PROVIDER_ERROR' },
      { ...dmtMake, reason: 'PROVIDER_UNAVAILABLE' },
    ]);
    expect(record!.providers).toEqual([
      { providerKey: 'drp', latencyMs: 30, outcome: 'TIMEOUT', attempts: 1 },
      { providerKey: 'rgd', latencyMs: 30, outcome: 'ERROR', httpStatus: 500, attempts: 1 },
      { providerKey: 'dmt', latencyMs: 30, outcome: 'CIRCUIT_OPEN' },
    ]);
    expect(record!.outcome).toBe('ERROR');
  });

  it('records a provider unreachable after its retry as UNAVAILABLE with two attempts', () => {
    const p = plan('query($nic: ID!) { personInfo(nic: $nic) { fullName } }');
    const [record] = records({
      plan: p,
      gate: gate(p),
      fetch: fetched({
        drp: {
          ok: false,
          code: 'PROVIDER_UNAVAILABLE',
          failure: 'connection',
          message: 'refused',
          latencyMs: 4,
          attempts: 2,
        },
      }),
    });
    expect(record!.providers).toEqual([
      { providerKey: 'drp', latencyMs: 4, outcome: 'UNAVAILABLE', attempts: 2 },
    ]);
  });

  it('records a query that could not be gated: every field withheld as INTERNAL_ERROR, no decision, no call', () => {
    const p = plan();
    const [record] = records({
      plan: p,
      gate: {
        released: new Set(),
        withheld: new Map(),
        subjects: [subject(p, { decisionId: null, policyVersion: null, consentId: undefined })],
        timings: { pdpMs: 0, ceMs: 0 },
      },
      fetch: undefined,
    });
    expect(record!.fieldsRequested).toEqual([drpName, rgdName, dmtMake]);
    expect(record!.fieldsReleased).toEqual([]);
    expect(record!.fieldsWithheld!.map((w) => w.reason)).toEqual([
      'INTERNAL_ERROR',
      'INTERNAL_ERROR',
      'INTERNAL_ERROR',
    ]);
    expect([record!.decisionId, record!.policyVersion, record!.consentId]).toEqual([null, null, null]);
    expect(record!.providers).toEqual([]);
    expect(record!.outcome).toBe('ERROR');
  });

  it('writes one record per data subject, each with its own citizen and fields only', () => {
    const p = plan(
      '{ a: personInfo(nic: "123456789V") { fullName } b: personInfo(nic: "987654321X") { name } }',
    );
    const ofRoot = (key: string) => p.leaves.filter((l) => l.unifiedPath[0] === key).map((l) => l.id);
    const result = records({
      plan: p,
      gate: gate(p, {}, [
        subject(p, { subjectId: '123456789V', leafIds: ofRoot('a'), decisionId: 'dec-a' }),
        subject(p, { subjectId: '987654321X', leafIds: ofRoot('b'), decisionId: 'dec-b' }),
      ]),
      fetch: fetched({ drp: ok(1), rgd: ok(1) }),
    });
    expect(result.map((r) => [r.citizenId, r.decisionId, r.fieldsRequested, r.outcome])).toEqual([
      ['123456789V', 'dec-a', [drpName], 'SUCCESS'],
      ['987654321X', 'dec-b', [rgdName], 'SUCCESS'],
    ]);
  });

  it('records a partial release: the covering consent for each released field, the new request only as asked for', () => {
    const p = plan();
    const pending = { consentId: 'consent-Y', consentPortalUrl: 'http://127.0.0.1:8081/consent/consent-Y' };
    const [record] = records({
      plan: p,
      gate: gate(p, { 'vehiclesByOwner.make': 'CONSENT_REQUIRED' }, [
        subject(p, {
          consentId: 'consent-X',
          pendingConsent: pending,
          allowedBy: new Map<string, ReleaseBasis>([
            [fieldKey(drpName), byConsent('consent-X')],
            [fieldKey(rgdName), { basis: 'policy', policyIds: ['grant', 'public-data'] }],
          ]),
        }),
      ]),
      fetch: fetched({ drp: ok(1), rgd: ok(1) }),
    });
    expect(record!.fieldsReleased).toEqual([
      { ...drpName, allowedBy: byConsent('consent-X') },
      { ...rgdName, allowedBy: { basis: 'policy', policyIds: ['grant', 'public-data'] } },
    ]);
    expect(record!.fieldsWithheld).toEqual([{ ...dmtMake, reason: 'CONSENT_REQUIRED' }]);
    expect(record!.consentId).toBe('consent-X');
    expect(record!.consentRequested).toBe('consent-Y');
    expect(record!.outcome).toBe('PARTIAL');
    expect(toAuditContent(record!, new Date())).toMatchObject({
      consentId: 'consent-X',
      consentRequested: 'consent-Y',
    });
  });

  it('withholds a field its provider answered a GraphQL error on inside HTTP 200 as PROVIDER_ERROR, never released', () => {
    const p = plan();
    const [record] = records({
      plan: p,
      gate: gate(p),
      fetch: fetched({
        drp: {
          ok: true,
          data: { personInfo: { fullName: 'Amara Perera' } },
          errors: [{ message: 'register offline', path: ['personInfo', 'fullName'] }],
          latencyMs: 3,
          attempts: 1,
        },
        rgd: ok(1, { personInfo: { fullName: 'Amara' } }),
        dmt: ok(1, { personInfo: [{ make: 'Toyota' }] }),
      }),
    });
    expect(record!.fieldsWithheld).toEqual([{ ...drpName, reason: 'PROVIDER_ERROR' }]);
    expect(record!.fieldsReleased!.map((f) => f.field)).toEqual([rgdName.field, dmtMake.field]);
    expect(record!.providers![0]).toEqual({
      providerKey: 'drp',
      latencyMs: 3,
      outcome: 'OK',
      attempts: 1,
      graphqlErrors: 1,
    });
    expect(record!.outcome).toBe('PARTIAL');
  });

  it('records the request’s reference, the caller’s traceparent apart from it, and the end user the consumer asserted', () => {
    const p = plan('query($nic: ID!) { personInfo(nic: $nic) { fullName } }');
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const [record] = records({
      plan: p,
      gate: gate(p),
      fetch: fetched({ drp: ok(1) }),
      reference: 'ndx-ref-42',
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      callerTraceparent: traceparent,
      endUser: { subject: 'officer-17', role: 'officer' },
    });
    expect(record).toMatchObject({
      reference: 'ndx-ref-42',
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      callerTraceparent: traceparent,
      endUser: { subject: 'officer-17', role: 'officer' },
    });
    expect(toAuditContent(record!, new Date()).endUser).toEqual({
      subject: 'officer-17',
      role: 'officer',
      assertedBy: 'passport-app',
    });
  });

  it('holds field names and reasons, never a value a provider answered', () => {
    const p = plan();
    const result = records({
      plan: p,
      gate: gate(p, { 'getPersonInfo.fullName': 'FORBIDDEN' }),
      fetch: fetched({
        drp: ok(1, { personInfo: { fullName: 'Amara Perera' } }),
        dmt: ok(1, { personInfo: [{ make: 'Toyota Corolla' }] }),
      }),
    });
    const text = JSON.stringify(result);
    expect(text).not.toContain('Amara Perera');
    expect(text).not.toContain('Toyota Corolla');
    expect(text).toContain('person.fullName');
  });
});
