import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import pg from 'pg';
import { createPool, migrate, type Pool } from '@ndx/service-kit';
import { createTestDatabase, testLogger, type TestDatabase } from '@ndx/service-kit/testing';
import { migrationsDir } from '../src/app.ts';
import { defaultConsumers, defaultPurposes } from '../src/config.ts';
import { fieldKey, type ConsentActor, type ConsentStatus } from '@ndx/contract';
import { ConsentStore, type NamedField } from '../src/consent-store.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

class TestClock {
  time = new Date('2026-03-01T09:00:00Z').getTime();
  now = (): Date => new Date(this.time);
  advance(ms: number): void {
    this.time += ms;
  }
}

const oe: ConsentActor = { type: 'service', id: 'orchestration-engine' };
const fields: NamedField[] = [
  { providerKey: 'rgd', schemaId: 'rgd-v1', field: 'birth.fullName', displayName: 'Name at birth' },
  { providerKey: 'rgd', schemaId: 'rgd-v1', field: 'birth.dateOfBirth', displayName: 'Date of birth' },
  { providerKey: 'drp', schemaId: 'drp-v1', field: 'person.address', displayName: 'Address' },
];
const nameOnly = [fields[0]!];

let db: TestDatabase;
let pool: Pool;
let clock: TestClock;
let store: ConsentStore;
let citizenSeq = 0;
let citizen: string;

beforeAll(async () => {
  db = await createTestDatabase('ce_store');
  pool = createPool(db.url, testLogger(), { max: 25 });
  await migrate(pool, migrationsDir);
});

afterAll(async () => {
  await pool.end();
  await db.drop();
});

beforeEach(() => {
  clock = new TestClock();
  store = new ConsentStore({
    pool,
    clock,
    consumers: defaultConsumers,
    purposes: defaultPurposes,
    durations: [{ consumerId: 'traffic-police-app', purpose: 'passport-application', durationDays: 2 }],
    pendingTtlSeconds: 3600,
    noticeVersion: 'test-notice',
  });
  citizen = `19956020${String(1000 + citizenSeq++)}`;
});

const ask = (f: NamedField[] = fields, consumerId = 'passport-app') =>
  store.request({ citizenId: citizen, consumerId, purpose: 'passport-application', fields: f }, oe);
const check = (f: NamedField[] = fields) =>
  store.check({ citizenId: citizen, consumerId: 'passport-app', purpose: 'passport-application', fields: f });

async function statuses(id: string): Promise<[ConsentStatus | null, ConsentStatus][]> {
  return (await store.events(id)).map((e) => [e.from, e.to]);
}

describe('consent state machine', () => {
  it('a new request is PENDING for an hour with its event recorded', async () => {
    const { consent, created } = await ask();
    expect(created).toBe(true);
    expect(consent.status).toBe('PENDING');
    expect(consent.purposeText).toBe(defaultPurposes['passport-application']!.text);
    expect(consent.legalBasis).toBe('consent');
    expect(consent.noticeVersion).toBe('test-notice');
    expect(new Date(consent.expiresAt).getTime() - clock.time).toBe(HOUR);
    expect(consent.fields.map((f) => f.granted)).toEqual([null, null, null]);
    expect(await statuses(consent.id)).toEqual([[null, 'PENDING']]);
  });

  it('PENDING → ACTIVE on approval lasts 30 days for the passport purpose', async () => {
    const { consent } = await ask();
    clock.advance(60_000);
    const active = await store.decide(consent.id, citizen, { approve: true });
    expect(active.status).toBe('ACTIVE');
    expect(new Date(active.expiresAt).getTime() - clock.time).toBe(30 * DAY);
    expect(active.fields.every((f) => f.granted)).toBe(true);
    const events = await store.events(consent.id);
    expect(events.at(-1)).toMatchObject({
      from: 'PENDING',
      to: 'ACTIVE',
      actor: { type: 'citizen', id: citizen },
    });
  });

  it('the duration is configurable per consumer and purpose', async () => {
    const { consent } = await ask(fields, 'traffic-police-app');
    const active = await store.decide(consent.id, citizen, { approve: true });
    expect(new Date(active.expiresAt).getTime() - clock.time).toBe(2 * DAY);
  });

  it('PENDING → REJECTED on denial', async () => {
    const { consent } = await ask();
    const rejected = await store.decide(consent.id, citizen, { approve: false });
    expect(rejected.status).toBe('REJECTED');
    expect(rejected.fields.every((f) => f.granted === false)).toBe(true);
    expect(await statuses(consent.id)).toEqual([
      [null, 'PENDING'],
      ['PENDING', 'REJECTED'],
    ]);
  });

  it('ACTIVE → REVOKED, and the next check is no longer covered', async () => {
    const { consent } = await ask();
    await store.decide(consent.id, citizen, { approve: true });
    expect((await check()).covered).toBe(true);
    const revoked = await store.revoke(consent.id, { type: 'citizen', id: citizen });
    expect(revoked.status).toBe('REVOKED');
    expect(revoked.revokedAt).not.toBeNull();
    const after = await check();
    expect(after.covered).toBe(false);
    expect(after.missingFields).toHaveLength(3);
  });

  it('PENDING → EXPIRED after an hour: approval is refused and the sweep records it', async () => {
    const { consent } = await ask();
    clock.advance(HOUR + 1);
    await expect(store.decide(consent.id, citizen, { approve: true })).rejects.toMatchObject({
      code: 'CONSENT_EXPIRED',
    });
    expect((await store.get(consent.id)).status).toBe('EXPIRED');
    expect(await statuses(consent.id)).toEqual([
      [null, 'PENDING'],
      ['PENDING', 'EXPIRED'],
    ]);
  });

  it('ACTIVE → EXPIRED: check never counts an expired consent, and the sweep marks it with an event', async () => {
    const { consent } = await ask();
    await store.decide(consent.id, citizen, { approve: true });
    clock.advance(30 * DAY - 1000);
    expect((await check()).covered).toBe(true);
    clock.advance(1000);
    expect((await check()).covered).toBe(false);
    expect((await store.get(consent.id)).status).toBe('EXPIRED');
    expect(await store.sweepExpired()).toBeGreaterThanOrEqual(1);
    const events = await store.events(consent.id);
    expect(events.at(-1)).toMatchObject({ from: 'ACTIVE', to: 'EXPIRED', actor: { type: 'system' } });
    expect(await store.sweepExpired()).toBe(0);
  });

  it.each([
    ['REJECTED', 'approve'],
    ['REJECTED', 'revoke'],
    ['REVOKED', 'approve'],
    ['REVOKED', 'deny'],
    ['REVOKED', 'revoke'],
    ['ACTIVE', 'approve'],
    ['ACTIVE', 'deny'],
    ['PENDING', 'revoke'],
    ['EXPIRED', 'approve'],
    ['EXPIRED', 'revoke'],
  ] as const)('a %s consent cannot be %sd', async (from, action) => {
    const { consent } = await ask();
    if (from === 'ACTIVE' || from === 'REVOKED') await store.decide(consent.id, citizen, { approve: true });
    if (from === 'REVOKED') await store.revoke(consent.id, oe);
    if (from === 'REJECTED') await store.decide(consent.id, citizen, { approve: false });
    if (from === 'EXPIRED') {
      clock.advance(HOUR + 1);
      await store.sweepExpired();
    }
    const before = await store.events(consent.id);
    const attempt =
      action === 'revoke'
        ? store.revoke(consent.id, oe)
        : store.decide(consent.id, citizen, action === 'approve' ? { approve: true } : { approve: false });
    await expect(attempt).rejects.toMatchObject({ code: 'CONSENT_INVALID_TRANSITION', httpStatus: 409 });
    expect((await store.get(consent.id)).status).toBe(from);
    expect(await store.events(consent.id)).toHaveLength(before.length);
  });

  it('every change is announced on consent_changed (for caches in other processes)', async () => {
    const listener = new pg.Client({ connectionString: db.url });
    await listener.connect();
    try {
      const seen: string[] = [];
      listener.on('notification', (n) => seen.push(`${n.channel}:${n.payload}`));
      await listener.query('LISTEN consent_changed');
      const { consent } = await ask();
      await store.decide(consent.id, citizen, { approve: true });
      await store.revoke(consent.id, oe);
      await expect.poll(() => seen.filter((s) => s === `consent_changed:${consent.id}`).length).toBe(2);
    } finally {
      await listener.end();
    }
  });

  it('the database itself refuses a forbidden transition', async () => {
    const { consent } = await ask();
    await store.decide(consent.id, citizen, { approve: false });
    await expect(
      pool.query(`UPDATE consents SET status = 'ACTIVE' WHERE id = $1`, [consent.id]),
    ).rejects.toThrow(/may not go from REJECTED to ACTIVE/);
  });

  it('only the data subject may decide or revoke as a citizen', async () => {
    const { consent } = await ask();
    await expect(store.decide(consent.id, 'someone-else', { approve: true })).rejects.toMatchObject({
      code: 'NOT_DATA_SUBJECT',
      httpStatus: 403,
    });
    await store.decide(consent.id, citizen, { approve: true });
    await expect(store.revoke(consent.id, { type: 'citizen', id: 'someone-else' })).rejects.toMatchObject({
      httpStatus: 403,
    });
    expect((await store.get(consent.id)).status).toBe('ACTIVE');
  });

  it('an unknown consent id is CONSENT_NOT_FOUND', async () => {
    await expect(store.get('not-a-uuid')).rejects.toMatchObject({ code: 'CONSENT_NOT_FOUND' });
    await expect(store.revoke('00000000-0000-4000-8000-000000000000', oe)).rejects.toMatchObject({
      httpStatus: 404,
    });
  });
});

describe('concurrency', () => {
  it('20 concurrent identical requests open one record', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, () => ask()));
    const ids = new Set(results.map((r) => r.consent.id));
    expect(ids.size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM consents WHERE citizen_id = $1', [
      citizen,
    ]);
    expect(rows[0].n).toBe(1);
  });

  it('concurrent approvals: exactly one wins, one ACTIVE event', async () => {
    const { consent } = await ask();
    const outcomes = await Promise.allSettled(
      Array.from({ length: 10 }, () => store.decide(consent.id, citizen, { approve: true })),
    );
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    expect(await statuses(consent.id)).toEqual([
      [null, 'PENDING'],
      ['PENDING', 'ACTIVE'],
    ]);
  });

  it('approve racing revoke ends in one valid state whose events agree', async () => {
    for (let i = 0; i < 5; i++) {
      const { consent } = await store.request(
        { citizenId: `${citizen}-${i}`, consumerId: 'passport-app', purpose: 'passport-application', fields },
        oe,
      );
      await Promise.allSettled([
        store.decide(consent.id, `${citizen}-${i}`, { approve: true }),
        store.revoke(consent.id, oe),
        store.revoke(consent.id, oe),
      ]);
      const final = await store.get(consent.id);
      expect(['ACTIVE', 'REVOKED']).toContain(final.status);
      const events = await statuses(consent.id);
      expect(events.at(-1)![1]).toBe(final.status);
      for (let e = 1; e < events.length; e++) expect(events[e]![0]).toBe(events[e - 1]![1]);
    }
  });
});

describe('coverage', () => {
  it('approving a subset covers only that subset and names the missing fields', async () => {
    const { consent } = await ask();
    await store.decide(consent.id, citizen, {
      approve: true,
      fieldKeys: [fieldKey(fields[0]!), fieldKey(fields[2]!)],
    });
    expect(await check([fields[0]!, fields[2]!])).toMatchObject({
      covered: true,
      consentId: consent.id,
      missingFields: [],
    });
    const all = await check();
    expect(all.covered).toBe(false);
    expect(all.missingFields).toEqual([
      { providerKey: 'rgd', schemaId: 'rgd-v1', field: 'birth.dateOfBirth' },
    ]);
  });

  it('a request with more fields opens a request for the difference and keeps the granted consent', async () => {
    const first = await ask(nameOnly);
    await store.decide(first.consent.id, citizen, { approve: true });
    const second = await ask(fields);
    expect(second.created).toBe(true);
    expect(second.consent.id).not.toBe(first.consent.id);
    expect(second.consent.fields.map(fieldKey).sort()).toEqual(
      [fieldKey(fields[1]!), fieldKey(fields[2]!)].sort(),
    );
    expect((await store.get(first.consent.id)).status).toBe('ACTIVE');
    await store.decide(second.consent.id, citizen, { approve: true });
    const both = await check();
    expect(both.covered).toBe(true);
    expect(new Set(both.consentIds)).toEqual(new Set([first.consent.id, second.consent.id]));
  });

  it('names the consent that covers each field, and none for a field no consent grants', async () => {
    const first = await ask(nameOnly);
    await store.decide(first.consent.id, citizen, { approve: true });
    const second = await ask(fields);
    await store.decide(second.consent.id, citizen, {
      approve: true,
      fieldKeys: [fieldKey(fields[1]!)],
    });
    const coverage = await check();
    expect(coverage.covered).toBe(false);
    const plain = (f: NamedField) => ({ providerKey: f.providerKey, schemaId: f.schemaId, field: f.field });
    expect(coverage.coveredBy).toEqual([
      { ...plain(fields[0]!), consentId: first.consent.id },
      { ...plain(fields[1]!), consentId: second.consent.id },
    ]);
    expect(coverage.missingFields).toEqual([plain(fields[2]!)]);
  });

  it('a request that is already covered returns the active consent instead of a new one', async () => {
    const first = await ask();
    await store.decide(first.consent.id, citizen, { approve: true });
    const again = await ask(nameOnly);
    expect(again).toMatchObject({ created: false, consent: { id: first.consent.id, status: 'ACTIVE' } });
  });

  it('consent for one consumer or purpose does not cover another', async () => {
    const { consent } = await ask();
    await store.decide(consent.id, citizen, { approve: true });
    const other = await store.check({
      citizenId: citizen,
      consumerId: 'traffic-police-app',
      purpose: 'passport-application',
      fields,
    });
    expect(other.covered).toBe(false);
    const otherPurpose = await store.check({
      citizenId: citizen,
      consumerId: 'passport-app',
      purpose: 'traffic-enforcement',
      fields,
    });
    expect(otherPurpose.covered).toBe(false);
  });

  it('after a pending request lapses, the same request opens a fresh one', async () => {
    const first = await ask();
    clock.advance(HOUR + 1);
    const second = await ask();
    expect(second.created).toBe(true);
    expect(second.consent.id).not.toBe(first.consent.id);
    expect((await store.get(first.consent.id)).status).toBe('EXPIRED');
    expect(await statuses(first.consent.id)).toEqual([
      [null, 'PENDING'],
      ['PENDING', 'EXPIRED'],
    ]);
  });

  it('unknown consumers and purposes are refused', async () => {
    await expect(ask(fields, 'nobody-app')).rejects.toMatchObject({
      code: 'UNKNOWN_CONSUMER',
      httpStatus: 400,
    });
    await expect(
      store.request({ citizenId: citizen, consumerId: 'passport-app', purpose: 'marketing', fields }, oe),
    ).rejects.toMatchObject({ code: 'UNKNOWN_PURPOSE' });
  });
});
