import { describe, expect, it } from 'vitest';
import { fieldRefOf, type FieldRef, type SubjectPresence } from '@ndx/contract';
import { testLogger } from '@ndx/service-kit/testing';
import { decideFields } from '../src/decision-engine.ts';
import { compileBundle, type CompiledPolicy } from '../src/policy-compiler.ts';
import { computeTable, nextChange, parseTableId } from '../src/decision-table.ts';
import { createPolicyFeed } from '../src/policy-feed.ts';
import type { BundleContent } from '../src/policy-model.ts';
import { farajalandSeed } from '../src/seed-farajaland.ts';

// Farajaland time is Africa/Lusaka (UTC+2).
const ZONE = 'Africa/Lusaka';
const local = (hhmm: string, date = '2026-03-10') => new Date(`${date}T${hhmm}:00+02:00`);

let versionCounter = 500;
const compile = (content: BundleContent = farajalandSeed) =>
  compileBundle({ version: ++versionCounter, ...content });
const seed = compile();
const catalogue: FieldRef[] = farajalandSeed.fields.map(fieldRefOf);
const withPolicy = (policy: string) =>
  compile({ ...farajalandSeed, policies: `${farajalandSeed.policies}\n${policy}` });

const PASSPORT = { consumerId: 'passport-app', purpose: 'passport-application' };
const TRAFFIC = { consumerId: 'traffic-police-app', purpose: 'traffic-enforcement' };

/** What POST /v1/decisions decides for every catalogue field at `at`. */
const perRequest = (
  compiled: CompiledPolicy,
  who: { consumerId: string; purpose: string },
  subjectId: string | null,
  at: Date,
) => decideFields(compiled, { ...who, subjectId, fields: catalogue }, at, ZONE, true).fields;

describe('a decision table', () => {
  it.each([
    ['the passport app, with a citizen, by day', PASSPORT, 'present', local('10:00')],
    ['the passport app, with no citizen', PASSPORT, 'absent', local('10:00')],
    ['the traffic police, by day', TRAFFIC, 'absent', local('10:00')],
    ['the traffic police, at night', TRAFFIC, 'absent', local('23:00')],
    ['an unknown consumer', { consumerId: 'nobody', purpose: 'x' }, 'present', local('10:00')],
    [
      'a purpose the consumer did not register',
      { consumerId: 'passport-app', purpose: 'x' },
      'present',
      local('10:00'),
    ],
  ] as const)('decides every field exactly as a request does (%s)', (_name, who, subject, at) => {
    const table = computeTable(seed, who.consumerId, who.purpose, subject as SubjectPresence, at, ZONE);
    expect(table.perRequestFields).toEqual([]);
    expect(table.fields).toEqual(perRequest(seed, who, subject === 'present' ? '199012345678' : null, at));
    expect(table.fields.map((f) => f.decision)).toContain(
      who === TRAFFIC && at.getUTCHours() < 20 ? 'PERMIT' : 'DENY',
    );
    expect(table.unlistedReason).toBe(who.consumerId === 'nobody' ? 'UNKNOWN_CONSUMER' : 'UNKNOWN_FIELD');
  });

  it('fetched inside the traffic police window is valid until the window closes at 22:00 Farajaland time', () => {
    for (const at of [local('06:00'), local('21:30'), local('21:59')]) {
      const table = computeTable(seed, TRAFFIC.consumerId, TRAFFIC.purpose, 'absent', at, ZONE);
      expect(table.validUntil).toBe(local('22:00').toISOString());
      expect(table.fields.find((f) => f.field === 'vehicle.make')).toMatchObject({ decision: 'PERMIT' });
    }
    const closed = computeTable(seed, TRAFFIC.consumerId, TRAFFIC.purpose, 'absent', local('22:00'), ZONE);
    expect(closed.fields.find((f) => f.field === 'vehicle.make')).toMatchObject({
      decision: 'DENY',
      reason: 'OUTSIDE_TIME_WINDOW',
    });
    // Outside the window, until it opens again at 06:00 the next morning.
    expect(closed.validUntil).toBe(local('06:00', '2026-03-11').toISOString());
  });

  it('is valid until the consumer’s grant expires, to the second', () => {
    const expiring = compile({
      ...farajalandSeed,
      grants: farajalandSeed.grants.map((g) =>
        g.consumerId === 'passport-app' ? { ...g, expiresAt: '2026-03-10T08:20:00.000Z' } : g,
      ),
    });
    const table = computeTable(
      expiring,
      PASSPORT.consumerId,
      PASSPORT.purpose,
      'present',
      local('10:00'),
      ZONE,
    );
    expect(table.validUntil).toBe('2026-03-10T08:20:00.000Z');
    const after = computeTable(
      expiring,
      PASSPORT.consumerId,
      PASSPORT.purpose,
      'present',
      new Date(table.validUntil),
      ZONE,
    );
    const granted = table.fields.filter((f) => f.reason !== 'NOT_GRANTED').map((f) => f.field);
    expect(granted.length).toBeGreaterThan(0);
    for (const f of after.fields.filter((d) => granted.includes(d.field)))
      expect(f).toMatchObject({ decision: 'DENY', reason: 'GRANT_EXPIRED' });
  });

  it('without a time window or expiry in sight lasts at most a day', () => {
    const table = computeTable(seed, PASSPORT.consumerId, PASSPORT.purpose, 'present', local('10:00'), ZONE);
    expect(table.validUntil).toBe(local('10:00', '2026-03-11').toISOString());
  });

  it.each([
    ['minuteOfDay next to arithmetic: the next minute', 'context.minuteOfDay + 1 > 600', local('10:01')],
    ['minuteOfDay compared with a literal: that minute', 'context.minuteOfDay >= 630', local('10:30')],
    ['the date: local midnight', 'context.date == "2026-03-11"', local('00:00', '2026-03-11')],
    ['the day of the week: local midnight', 'context.dayOfWeek == 3', local('00:00', '2026-03-11')],
    [
      'now compared with a datetime literal',
      'context.now >= datetime("2026-03-10T08:15:00Z")',
      new Date('2026-03-10T08:15:00Z'),
    ],
    [
      'now shifted by a duration: the next second',
      'context.now < datetime("2026-03-10T09:00:00Z").offset(duration("-1h"))',
      new Date('2026-03-10T08:00:01Z'),
    ],
    [
      'the whole context as a value: the next second',
      '{ c: context }.c.now > datetime("2026-03-10T09:00:00Z")',
      new Date('2026-03-10T08:00:01Z'),
    ],
  ])('knows from the parsed policy when a decision could next change (%s)', (_name, condition, expected) => {
    const compiled = withPolicy(`@id("t") forbid (principal, action, resource) when { ${condition} };`);
    expect(nextChange(compiled, PASSPORT.consumerId, PASSPORT.purpose, local('10:00'), ZONE)).toEqual(
      expected,
    );
  });

  // Every way a policy can read the data subject: Cedar sees the same expression, whatever the text.
  const spellings: [string, string][] = [
    ['context.subject', 'context.subject == "852321234V"'],
    ['context["subject"]', 'context["subject"] == "852321234V"'],
    ['a comment between context and .subject', 'context // the citizen\n  .subject == "852321234V"'],
    ['whitespace and line breaks', 'context\n\t.\n\tsubject == "852321234V"'],
    ['spaced brackets', 'context [ "subject" ] == "852321234V"'],
    ['a set membership', '["852321234V", "000000000V"].contains(context.subject)'],
    ['a pattern', 'context.subject like "85232*"'],
  ];

  it.each(spellings)(
    'whose policies read the data subject decides nothing for a citizen: every field per request (%s)',
    (_name, condition) => {
      const compiled = withPolicy(
        `@id("protected-citizen") forbid (principal, action, resource) when { context has subject && ${condition} };`,
      );
      const table = computeTable(
        compiled,
        PASSPORT.consumerId,
        PASSPORT.purpose,
        'present',
        local('10:00'),
        ZONE,
      );
      expect(table.fields).toEqual([]);
      expect(table.perRequestFields).toEqual(catalogue);
      // Without a data subject there is no one to tell apart: decided as a request without one.
      const absent = computeTable(
        compiled,
        PASSPORT.consumerId,
        PASSPORT.purpose,
        'absent',
        local('10:00'),
        ZONE,
      );
      expect(absent.perRequestFields).toEqual([]);
      expect(absent.fields).toEqual(perRequest(compiled, PASSPORT, null, local('10:00')));
    },
  );

  it('has an id naming its version, subject presence and instant', () => {
    const table = computeTable(
      seed,
      TRAFFIC.consumerId,
      TRAFFIC.purpose,
      'absent',
      new Date('2026-03-10T08:00:00.700Z'),
      ZONE,
    );
    expect(table.validFrom).toBe('2026-03-10T08:00:00.000Z');
    expect(parseTableId(table.tableId)).toMatchObject({
      version: seed.version,
      subject: 'absent',
      validFrom: new Date('2026-03-10T08:00:00.000Z'),
    });
    expect(parseTableId('v1-x-1-0000000000000000')).toBeUndefined();
  });
});

describe('the policy change feed', () => {
  const LEASE = 3_000;
  const feedAt = (clock: { t: number }, active: { v: number }) =>
    createPolicyFeed({
      activeVersion: () => active.v,
      leaseMs: LEASE,
      holdMs: 1_000,
      logger: testLogger('policy-decision-point'),
      now: () => clock.t,
    });
  const never = new Promise<void>(() => undefined);

  it('answers a poll for another version at once, and one for the active version after holding it', async () => {
    const clock = { t: 10_000 };
    const active = { v: 2 };
    const feed = feedAt(clock, active);
    expect(await feed.poll('oe-a-123456', undefined, never)).toEqual({
      activeVersion: 2,
      leaseMs: LEASE,
      holdMs: 1_000,
    });
    expect(await feed.poll('oe-a-123456', 2, never)).toMatchObject({ activeVersion: 2 });
    const held = feed.poll('oe-a-123456', 2, never);
    active.v = 3;
    feed.changed();
    expect(await held).toMatchObject({ activeVersion: 3 });
    feed.stop();
  });

  it('settles an activation only once a live subscriber acknowledged it, or its lease lapsed', async () => {
    const clock = { t: 0 };
    const active = { v: 2 };
    const feed = feedAt(clock, active);
    clock.t = 10_000; // long after the process started: only the leases count
    await feed.poll('oe-stalled-1', 2, never); // leased until 13 000, then never polls again
    await feed.poll('oe-healthy-1', 2, never);
    active.v = 3;
    let settled = false;
    const settling = feed.settled().then((r) => {
      settled = true;
      return r;
    });
    await feed.poll('oe-healthy-1', 3, never); // acknowledges version 3
    clock.t = 12_900;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(settled).toBe(false);
    clock.t = 13_000;
    expect(await settling).toMatchObject({ subscribers: 2, acknowledged: 1, lapsed: 1 });
    feed.stop();
  });
});
