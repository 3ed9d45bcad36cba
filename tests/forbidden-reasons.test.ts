import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestStack, type TestStack } from './support/test-stack.ts';

/**
 * A FORBIDDEN field says why in `extensions.reason`: the traffic police app asked outside its grant's time
 * window is told OUTSIDE_TIME_WINDOW, and a field it was never granted NOT_GRANTED. The window is moved
 * through the PDP's admin API relative to the real time (no clock games, no sleeping).
 */

const VEHICLE_QUERY = '{ vehicle(regNo: "CAB-1234") { make model } }';
const PERSON_QUERY = '{ personInfo(nic: "199560201234") { name } }';
const FARAJALAND = 'Africa/Lusaka'; // the PDP's POLICY_TIME_ZONE in the stack

interface GraphQLAnswer {
  status: number;
  reference: string | null;
  data?: Record<string, unknown> | null;
  errors?: { path?: (string | number)[]; extensions: { code: string; reason?: string } }[];
}
interface Grant {
  consumerId: string;
  purpose: string;
  fields: unknown[];
  legalBasis: string;
  expiresAt: string | null;
}

let t: TestStack;
let policeToken: string;
let operatorToken: string;
let auditPool: pg.Pool;

async function query(text: string): Promise<GraphQLAnswer> {
  const response = await fetch(`${t.url('orchestration-engine')}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${policeToken}` },
    body: JSON.stringify({ query: text }),
  });
  return {
    status: response.status,
    reference: response.headers.get('ndx-audit-reference'),
    ...((await response.json()) as Omit<GraphQLAnswer, 'status' | 'reference'>),
  };
}

/** Each error's path with its code and reason. */
const errorsByPath = (answer: GraphQLAnswer) =>
  Object.fromEntries(
    (answer.errors ?? []).map((e) => [(e.path ?? []).join('.'), [e.extensions.code, e.extensions.reason]]),
  );

/** Minutes after midnight, Farajaland time, `offset` minutes from now, as HH:MM. */
function farajalandClock(offset: number): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat('en-GB', {
      timeZone: FARAJALAND,
      hourCycle: 'h23',
      hour: '2-digit',
      minute: '2-digit',
    })
      .formatToParts(new Date())
      .map((p) => [p.type, p.value]),
  );
  const minutes = (Number(parts['hour']) * 60 + Number(parts['minute']) + offset + 1440) % 1440;
  return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}

/** Stores and activates the traffic police grant with a new time window, its fields and terms unchanged. */
async function setTrafficWindow(start: string, end: string): Promise<void> {
  const pdp = `${t.url('policy-decision-point')}/admin/v1`;
  const headers = { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' };
  const listed = await fetch(`${pdp}/grants`, { headers: { authorization: headers.authorization } });
  const grants = ((await listed.json()) as { grants: Grant[] }).grants;
  const grant = grants.find((g) => g.consumerId === 'traffic-police-app')!;
  const changed = await fetch(`${pdp}/grants/traffic-police-app/traffic-enforcement`, {
    method: 'PUT',
    headers,
    body: JSON.stringify({
      reason: `shift hours ${start}-${end}`,
      activate: true,
      fields: grant.fields,
      legalBasis: grant.legalBasis,
      expiresAt: grant.expiresAt,
      window: { start, end },
    }),
  });
  expect(changed.status).toBe(201);
  expect(await changed.json()).toMatchObject({ active: true });
}

beforeAll(async () => {
  t = await startTestStack({ only: ['orchestration-engine'] });
  policeToken = await t.clientToken('traffic-police-app', 'urn:ndx:api');
  operatorToken = await t.clientToken('ndx-operator', 'urn:ndx:pdp', 'admin');
  auditPool = new pg.Pool({ connectionString: t.databaseUrl('ndx_audit'), max: 1 });
}, 240_000);

afterAll(async () => {
  await auditPool?.end();
  await t?.stop();
});

describe('the reason a field is FORBIDDEN', () => {
  it('the traffic police app asked outside its time window gets FORBIDDEN with reason OUTSIDE_TIME_WINDOW', async () => {
    // A window that starts two hours from now and ends three hours from now (Farajaland time).
    await setTrafficWindow(farajalandClock(120), farajalandClock(180));
    const answer = await query(VEHICLE_QUERY);
    expect(answer.status).toBe(200);
    expect(answer.data).toEqual({ vehicle: { make: null, model: null } });
    expect(errorsByPath(answer)).toEqual({
      'vehicle.make': ['FORBIDDEN', 'OUTSIDE_TIME_WINDOW'],
      'vehicle.model': ['FORBIDDEN', 'OUTSIDE_TIME_WINDOW'],
    });
  });

  it('a field the traffic police app was never granted is FORBIDDEN with reason NOT_GRANTED, outside its window too', async () => {
    await setTrafficWindow(farajalandClock(120), farajalandClock(180));
    const answer = await query(PERSON_QUERY);
    expect(answer.status).toBe(200);
    expect(errorsByPath(answer)).toEqual({ 'personInfo.name': ['FORBIDDEN', 'NOT_GRANTED'] });
  });

  it('inside the window the vehicle fields are not FORBIDDEN, and the name is still NOT_GRANTED', async () => {
    await setTrafficWindow(farajalandClock(-60), farajalandClock(60));
    const vehicle = await query(VEHICLE_QUERY);
    expect(vehicle.status).toBe(200);
    // Released to the DMT provider (whatever it answers): no policy error on either field.
    const codes = Object.values(errorsByPath(vehicle)).map(([code]) => code);
    expect(codes.filter((code) => code === 'FORBIDDEN' || code === 'CONSENT_REQUIRED')).toEqual([]);
    const person = await query(PERSON_QUERY);
    expect(errorsByPath(person)).toEqual({ 'personInfo.name': ['FORBIDDEN', 'NOT_GRANTED'] });
  });

  it('inside the window the vehicle fields are released under the grant’s legal basis, and the audit record names it', async () => {
    await setTrafficWindow(farajalandClock(-60), farajalandClock(60));
    const vehicle = await query(VEHICLE_QUERY);
    expect(vehicle.status).toBe(200);
    expect(vehicle.reference).toMatch(/^[0-9a-f-]{36}$/);
    const { rows } = await auditPool.query<{ released: { field: string; allowedBy: unknown }[] }>(
      'SELECT fields_released AS released FROM audit_log WHERE reference = $1',
      [vehicle.reference],
    );
    expect(rows).toHaveLength(1);
    // No consent was involved: the policy permitted both fields, under the legal obligation the grant names.
    const legalObligation = { basis: 'policy', policyIds: ['grant'], legalBasis: 'legal-obligation' };
    expect(rows[0]!.released.map((f) => [f.field, f.allowedBy]).sort()).toEqual([
      ['vehicle.make', legalObligation],
      ['vehicle.model', legalObligation],
    ]);
  });
});
