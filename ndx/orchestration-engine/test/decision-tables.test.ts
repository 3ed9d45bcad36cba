import { describe, expect, it } from 'vitest';
import type {
  DecisionTable,
  FieldDecision,
  FieldRef,
  PolicyChange,
  PolicyDecisionRequest,
  PolicyDecisionResponse,
} from '@ndx/contract';
import { testLogger } from '@ndx/service-kit/testing';
import { createDecisionTables } from '../src/decision-table-cache.ts';
import { startPolicyFeedSubscriber } from '../src/policy-feed-subscriber.ts';

const name: FieldRef = { providerKey: 'rgd', schemaId: 'abc-212', field: 'getPersonInfo.fullName' };
const job: FieldRef = { providerKey: 'drp', schemaId: 'drp-schema-v1', field: 'person.profession' };
const unknown: FieldRef = { providerKey: 'rgd', schemaId: 'abc-212', field: 'getPersonInfo.shoeSize' };

const decided = (ref: FieldRef, decision: FieldDecision['decision']): FieldDecision => ({
  ...ref,
  decision,
  policyIds: decision === 'PERMIT' ? ['grant'] : ['personal-data-needs-consent', 'grant'],
  reason: decision === 'PERMIT' ? 'PERMITTED' : 'CONSENT_REQUIRED',
  displayName: ref.field,
});

function table(version: number, overrides: Partial<DecisionTable> = {}): DecisionTable {
  return {
    tableId: `v${version}-p-1773136800-0123456789abcdef`,
    policyVersion: version,
    consumerId: 'passport-app',
    purpose: 'passport-application',
    subject: 'present',
    validFrom: '2026-03-10T10:00:00.000Z',
    validUntil: '2026-03-10T12:00:00.000Z',
    fields: [decided(name, 'CONSENT_REQUIRED'), decided(job, 'PERMIT')],
    perRequestFields: [],
    unlistedReason: 'UNKNOWN_FIELD',
    ...overrides,
  };
}

/** A PDP stand-in that counts what it is asked and answers with the tables it is given. */
function fakePdp(tables: DecisionTable[]) {
  const asked = { decide: 0, table: 0 };
  return {
    asked,
    async decide(request: PolicyDecisionRequest): Promise<PolicyDecisionResponse> {
      asked.decide++;
      return {
        decisionId: 'per-request',
        policyVersion: 9,
        decidedAt: '2026-03-10T10:00:00.000Z',
        fields: request.fields.map((f) => decided(f, 'PERMIT')),
      };
    },
    async table(): Promise<DecisionTable> {
      asked.table++;
      return tables[Math.min(asked.table, tables.length) - 1]!;
    },
  };
}

const request: PolicyDecisionRequest = {
  consumerId: 'passport-app',
  purpose: 'passport-application',
  subjectId: '199560201234',
  fields: [job, name, unknown],
};

describe('decisions from decision tables', () => {
  it('answer as the PDP would, from one table, with the table as decision id', async () => {
    const pdp = fakePdp([table(3)]);
    const clock = { now: new Date('2026-03-10T11:00:00Z') };
    const tables = createDecisionTables({
      pdp,
      trustedVersion: () => 3,
      clock: () => clock.now,
      maxFieldDecisions: 1_000,
    });
    for (let i = 0; i < 3; i++) {
      expect(await tables.decide(request)).toEqual({
        decisionId: 'table:v3-p-1773136800-0123456789abcdef',
        policyVersion: 3,
        decidedAt: '2026-03-10T11:00:00.000Z',
        fields: [
          decided(job, 'PERMIT'),
          decided(name, 'CONSENT_REQUIRED'),
          { ...unknown, decision: 'DENY', policyIds: [], reason: 'UNKNOWN_FIELD' },
        ],
      });
    }
    expect(pdp.asked).toEqual({ decide: 0, table: 1 });
  });

  it('go to the PDP per request while the change feed proves no version current', async () => {
    const pdp = fakePdp([table(3)]);
    const trusted = { version: null as number | null };
    const tables = createDecisionTables({
      pdp,
      trustedVersion: () => trusted.version,
      clock: () => new Date('2026-03-10T11:00:00Z'),
      maxFieldDecisions: 1_000,
    });
    expect((await tables.decide(request)).decisionId).toBe('per-request');
    trusted.version = 3;
    expect((await tables.decide(request)).decisionId).toMatch(/^table:/);
    // The lease lapses: the table held is not used any more.
    trusted.version = null;
    expect((await tables.decide(request)).decisionId).toBe('per-request');
    expect(pdp.asked).toEqual({ decide: 2, table: 1 });
  });

  it('never use a table of another version than the one the feed proves current', async () => {
    const pdp = fakePdp([table(2), table(3)]);
    const trusted = { version: 3 };
    const tables = createDecisionTables({
      pdp,
      trustedVersion: () => trusted.version,
      clock: () => new Date('2026-03-10T11:00:00Z'),
      maxFieldDecisions: 1_000,
    });
    // An activation crossed the fetch: the table of version 2 is neither used nor kept.
    expect((await tables.decide(request)).decisionId).toBe('per-request');
    expect(tables.size()).toBe(0);
    expect(await tables.decide(request)).toMatchObject({ policyVersion: 3 });
  });

  it('drop a table at its validUntil and fetch the next one', async () => {
    const next = table(3, {
      tableId: 'v3-p-1773144000-0123456789abcdef',
      validFrom: '2026-03-10T12:00:00.000Z',
      validUntil: '2026-03-10T13:00:00.000Z',
      fields: [decided(name, 'PERMIT'), decided(job, 'PERMIT')],
    });
    const pdp = fakePdp([table(3), next]);
    const clock = { now: new Date('2026-03-10T11:59:59.999Z') };
    const tables = createDecisionTables({
      pdp,
      trustedVersion: () => 3,
      clock: () => clock.now,
      maxFieldDecisions: 1_000,
    });
    expect((await tables.decide(request)).fields[1]).toMatchObject({ decision: 'CONSENT_REQUIRED' });
    clock.now = new Date('2026-03-10T12:00:00.000Z');
    const after = await tables.decide(request);
    expect(after.fields[1]).toMatchObject({ decision: 'PERMIT' });
    expect(after.decisionId).toBe('table:v3-p-1773144000-0123456789abcdef');
    expect(pdp.asked).toEqual({ decide: 0, table: 2 });
  });

  it('decide per request a query with a field a policy decides per citizen', async () => {
    const pdp = fakePdp([table(3, { fields: [decided(job, 'PERMIT')], perRequestFields: [name] })]);
    const tables = createDecisionTables({
      pdp,
      trustedVersion: () => 3,
      clock: () => new Date('2026-03-10T11:00:00Z'),
      maxFieldDecisions: 1_000,
    });
    expect((await tables.decide(request)).decisionId).toBe('per-request');
    expect((await tables.decide({ ...request, fields: [job] })).decisionId).toMatch(/^table:/);
    expect(pdp.asked).toEqual({ decide: 1, table: 1 });
  });

  it('hold at most maxFieldDecisions, the least recently used table going first', async () => {
    const pdp = fakePdp([table(3)]);
    const tables = createDecisionTables({
      pdp,
      trustedVersion: () => 3,
      clock: () => new Date('2026-03-10T11:00:00Z'),
      maxFieldDecisions: 100,
    });
    await tables.decide(request);
    await tables.decide({ ...request, subjectId: null });
    expect(tables.size()).toBe(2);
    tables.clear();
    expect(tables.size()).toBe(0);
    const small = createDecisionTables({
      pdp,
      trustedVersion: () => 3,
      clock: () => new Date('2026-03-10T11:00:00Z'),
      maxFieldDecisions: 5,
    });
    await small.decide(request);
    await small.decide({ ...request, subjectId: null });
    await small.decide({ ...request, purpose: 'other' });
    expect(small.size()).toBe(1);
  });
});

describe('the policy change feed subscriber', () => {
  /** Polls answered by the test, one at a time. */
  function scriptedFeed() {
    const polls: { version: number | undefined; answer: (c: PolicyChange) => void; fail: () => void }[] = [];
    return {
      polls,
      poll: (_subscriber: string, version: number | undefined) =>
        new Promise<PolicyChange>((resolve, reject) =>
          polls.push({ version, answer: resolve, fail: () => reject(new Error('feed down')) }),
        ),
    };
  }
  const change = (activeVersion: number): PolicyChange => ({ activeVersion, leaseMs: 3_000, holdMs: 1_000 });
  const settle = () => new Promise((resolve) => setTimeout(resolve, 5));

  it('trusts a version for the lease from when the renewing poll was sent, and drops tables on a new version', async () => {
    const feed = scriptedFeed();
    const clock = { t: 1_000 };
    const versions: number[] = [];
    const subscriber = startPolicyFeedSubscriber({
      poll: feed.poll,
      onVersion: (v) => versions.push(v),
      logger: testLogger('orchestration-engine'),
      now: () => clock.t,
    });
    await settle();
    expect(feed.polls[0]!.version).toBeUndefined();
    feed.polls[0]!.answer(change(4));
    await settle();
    expect(versions).toEqual([4]);
    expect(subscriber.trustedVersion()).toBeNull();
    // The acknowledgement of version 4, sent at t = 1 000 and answered at 1 500: trusted until 4 000.
    expect(feed.polls[1]!.version).toBe(4);
    clock.t = 1_500;
    feed.polls[1]!.answer(change(4));
    await settle();
    expect(subscriber.trustedVersion()).toBe(4);
    clock.t = 3_999;
    expect(subscriber.trustedVersion()).toBe(4);
    clock.t = 4_000;
    expect(subscriber.trustedVersion()).toBeNull();
    // A held poll answered with a new version: nothing trusted until it is acknowledged.
    feed.polls[2]!.answer(change(5));
    await settle();
    expect(versions).toEqual([4, 5]);
    expect(subscriber.trustedVersion()).toBeNull();
    expect(feed.polls[3]!.version).toBe(5);
    subscriber.stop();
  });

  it('trusts nothing once polls fail for longer than the lease', async () => {
    const feed = scriptedFeed();
    const clock = { t: 0 };
    const subscriber = startPolicyFeedSubscriber({
      poll: feed.poll,
      onVersion: () => undefined,
      logger: testLogger('orchestration-engine'),
      now: () => clock.t,
      retryMs: 1,
    });
    await settle();
    feed.polls[0]!.answer(change(2));
    await settle();
    feed.polls[1]!.answer(change(2));
    await settle();
    expect(subscriber.trustedVersion()).toBe(2);
    feed.polls[2]!.fail();
    clock.t = 2_999;
    await settle();
    expect(subscriber.trustedVersion()).toBe(2);
    clock.t = 3_000;
    expect(subscriber.trustedVersion()).toBeNull();
    subscriber.stop();
  });
});
