/**
 * Policy decisions from the PDP's decision tables, end to end: the stack as ./init.sh starts it, plus per
 * test an OE (and for the clock, a PDP) in-process, everything real on loopback. What is checked:
 * - a policy that reads the data subject, however it is spelled, is never answered from another citizen's
 *   decision;
 * - an activation is obeyed by the very next query after the activation call returns, also by an OE whose
 *   change feed is frozen: the activation waits for it at most its lease, and it then stops using its table;
 * - a table expires at the traffic police's time-window boundary (22:00 Farajaland time), by injected clocks;
 * - the PDP's dry run reproduces an audited table decision from its table id.
 */
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { exportCitizenRecords, type AuditRecord } from '@ndx/audit';
import { withDatabase } from '@ndx/service-kit/postgres';
import { testLogger } from '@ndx/service-kit/testing';
import { demoCitizens } from '@ndx/synthetic-data';
import { buildApp as buildOe } from '@ndx/orchestration-engine';
import { readConfig as readOeConfig } from '@ndx/orchestration-engine/config';
import { buildApp as buildPdp } from '@ndx/policy-decision-point';
import { readConfig as readPdpConfig } from '@ndx/policy-decision-point/config';
import { startFaultProvider, type FaultProvider } from './support/fault-provider.ts';
import { startTestStack, type TestStack } from './support/test-stack.ts';

type Env = Record<string, string | undefined>;

const [first, second] = demoCitizens;
const PERSON_QUERY = 'query($nic: ID!) { personInfo(nic: $nic) { name fullName } }';
const VEHICLE_QUERY = '{ vehicle(regNo: "CAB-1234") { make model } }';
/** The field `personInfo.name` reads. */
const NAME_AT_BIRTH = 'Ndx::ProviderField::"rgd/abc-212/getPersonInfo.fullName"';

interface Answer {
  status: number;
  data?: Record<string, Record<string, unknown> | null> | null;
  errors?: { path?: (string | number)[]; extensions: { code: string; reason?: string } }[];
}

let t: TestStack;
let admin: pg.Pool;
let passportToken: string;
let policeToken: string;
let operatorToken: string;
let oeToken: string;
let seedPolicies: string;
const cleanups: (() => Promise<unknown>)[] = [];

async function graphql(oeUrl: string, token: string, query: string, variables?: unknown): Promise<Answer> {
  const response = await fetch(`${oeUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, ...((await response.json()) as Omit<Answer, 'status'>) };
}
const personQuery = (oeUrl: string, nic: string) => graphql(oeUrl, passportToken, PERSON_QUERY, { nic });

/** Each error's path with its code (and reason, for FORBIDDEN). */
const errorsByPath = (answer: Answer) =>
  Object.fromEntries(
    (answer.errors ?? []).map((e) => [
      (e.path ?? []).join('.'),
      e.extensions.reason ? `${e.extensions.code} ${e.extensions.reason}` : e.extensions.code,
    ]),
  );

async function call(baseUrl: string, path: string, token: string, body?: unknown, method?: string) {
  const response = await fetch(`${baseUrl}${path}`, {
    method: method ?? (body === undefined ? 'GET' : 'POST'),
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return { status: response.status, body: (await response.json()) as any };
}
const pdpAdmin = (path: string, body?: unknown, method?: string) =>
  call(t.url('policy-decision-point'), `/admin/v1${path}`, operatorToken, body, method);

/** Replaces the stack PDP's policies with the seed's plus `extra`, activated in the same call. */
async function activatePolicies(extra: string, reason: string): Promise<{ body: Record<string, unknown> }> {
  const answer = await pdpAdmin(
    '/policies',
    { reason, activate: true, policies: `${seedPolicies}\n${extra}` },
    'PUT',
  );
  expect(answer.status).toBe(201);
  expect(answer.body).toMatchObject({ active: true });
  return answer;
}
const restoreSeedPolicies = () => activatePolicies('', 'back to the seed policies');

async function createDatabase(label: string): Promise<string> {
  const name = `tables_${label}_${Math.random().toString(36).slice(2, 8)}`;
  await admin.query(`CREATE DATABASE ${name}`);
  return withDatabase(t.stack.postgresAdminUrl, name);
}

/** An OE in-process, wired to the stack's FUDI, CE and providers, its PDP at `pdpUrl`. */
async function startOe(pdpUrl: string, clock?: () => Date): Promise<{ url: string; audit: pg.Pool }> {
  const databaseUrl = await createDatabase('audit');
  const env: Env = {
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    DATABASE_URL: databaseUrl,
    FUDI_ISSUER: t.url('identity-provider'),
    PDP_URL: pdpUrl,
    CONSENT_ENGINE_URL: t.url('consent-engine'),
    PROVIDER_URL_RGD: t.url('rgd-api'),
    PROVIDER_URL_DRP: t.url('drp-api-adapter'),
    PROVIDER_URL_DMT: t.url('dmt-api-adapter'),
    OE_CLIENT_SECRET: t.secret('fudi.client.orchestration-engine'),
    RGD_CLIENT_SECRET: t.secret('rgd.client.ndx'),
    DRP_ADAPTER_API_KEY: t.secret('drp.adapter-api-key'),
  };
  const app: FastifyInstance = await buildOe(
    readOeConfig(env),
    testLogger('orchestration-engine'),
    env,
    clock ? { clock } : {},
  );
  cleanups.push(() => app.close());
  await app.listen({ port: 0, host: '127.0.0.1' });
  const audit = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  cleanups.push(() => audit.end());
  return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, audit };
}

async function startProxy(upstream: string): Promise<FaultProvider> {
  const proxy = await startFaultProvider({ upstream });
  cleanups.push(async () => {
    proxy.release();
    await proxy.stop();
  });
  return proxy;
}

/** Until the in-process OE's change feed proves a table current, it decides per request: wait for that. */
async function untilDecidedFromTables(oeUrl: string, proxy: FaultProvider, ask: () => Promise<Answer>) {
  await expect
    .poll(
      async () => {
        const before = proxy.requests('/v1/decisions');
        await ask();
        return proxy.requests('/v1/decisions') === before;
      },
      { timeout: 20_000, interval: 200 },
    )
    .toBe(true);
}

async function lastRecord(pool: pg.Pool, nic: string): Promise<AuditRecord> {
  let last: AuditRecord | undefined;
  for await (const record of exportCitizenRecords(pool, nic)) last = record;
  if (!last) throw new Error(`no audit record of ${nic}`);
  return last;
}

beforeAll(async () => {
  t = await startTestStack({ only: ['orchestration-engine'] });
  passportToken = await t.clientToken('passport-app', 'urn:ndx:api');
  policeToken = await t.clientToken('traffic-police-app', 'urn:ndx:api');
  operatorToken = await t.clientToken('ndx-operator', 'urn:ndx:pdp', 'admin');
  oeToken = await t.clientToken('orchestration-engine', 'urn:ndx:pdp');
  admin = new pg.Pool({ connectionString: t.stack.postgresAdminUrl, max: 2 });
  seedPolicies = (await pdpAdmin('/policies')).body.policies as string;
}, 300_000);

afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

afterAll(async () => {
  await admin?.end();
  await t?.stop();
});

describe('decision tables', () => {
  // Ways a policy can read the data subject (the PDP's unit tests hold them all): Cedar sees one expression.
  const spellings: [string, string][] = [
    ['a comment between context and .subject', `context // the citizen\n  .subject == "${second!.nic}"`],
    ['spaced brackets', `context [ "subject" ] == "${second!.nic}"`],
    ['a pattern', `context.subject like "${second!.nic.slice(0, 6)}*"`],
  ];

  it.each(spellings)(
    'a policy that reads the data subject is never answered from another citizen’s decision (%s)',
    async (_name, condition) => {
      const oe = t.url('orchestration-engine');
      await activatePolicies(
        `@id("protected-citizen")\nforbid (principal, action, resource) when { context has subject && ${condition} };`,
        'protect one citizen',
      );
      try {
        // The other citizen first (a table for "a citizen" would now exist), then the protected one, and back.
        for (const [nic, expected] of [
          [first!.nic, 'CONSENT_REQUIRED'],
          [second!.nic, 'FORBIDDEN POLICY_FORBIDS'],
          [first!.nic, 'CONSENT_REQUIRED'],
          [second!.nic, 'FORBIDDEN POLICY_FORBIDS'],
        ] as const) {
          const answer = await personQuery(oe, nic);
          expect(answer.status).toBe(200);
          expect(errorsByPath(answer)).toEqual({
            'personInfo.name': expected,
            'personInfo.fullName': expected,
          });
        }
      } finally {
        await restoreSeedPolicies();
      }
    },
  );

  it('an activation is obeyed by the very next query, also by an OE whose change feed is frozen (it waits at most the lease)', async () => {
    // A second OE whose PDP calls go through a proxy: its feed can be frozen, its PDP calls counted.
    const proxy = await startProxy(t.url('policy-decision-point'));
    const frozen = await startOe(proxy.url);
    const stackOe = t.url('orchestration-engine');
    const consentRequired = {
      'personInfo.name': 'CONSENT_REQUIRED',
      'personInfo.fullName': 'CONSENT_REQUIRED',
    };
    const nameForbidden = {
      'personInfo.name': 'FORBIDDEN POLICY_FORBIDS',
      'personInfo.fullName': 'CONSENT_REQUIRED',
    };
    await untilDecidedFromTables(frozen.url, proxy, () => personQuery(frozen.url, first!.nic));
    expect(errorsByPath(await personQuery(stackOe, first!.nic))).toEqual(consentRequired);
    expect(errorsByPath(await personQuery(frozen.url, first!.nic))).toEqual(consentRequired);
    const tableRecord = await lastRecord(frozen.audit, first!.nic);
    expect(tableRecord.decisionId).toMatch(/^table:v\d+-p-\d+-[0-9a-f]{16}$/);

    // The frozen OE's next poll never reaches the PDP: its lease runs out, and nothing tells it of the change.
    proxy.setMode('held', { path: '/v1/policy-changes' });
    const started = performance.now();
    const activation = await activatePolicies(
      `@id("no-name-at-birth")\nforbid (principal, action, resource == ${NAME_AT_BIRTH});`,
      'the name at birth is no longer released',
    );
    const waitedMs = performance.now() - started;
    try {
      // The stack's OE acknowledged the version; the frozen one's lease lapsed (the lease is 3 s by default).
      expect(activation.body['feed']).toMatchObject({ acknowledged: 1, lapsed: 1 });
      expect(waitedMs).toBeLessThan(20_000);
      // No sleep: the very next query through either OE obeys the new version.
      expect(errorsByPath(await personQuery(stackOe, first!.nic))).toEqual(nameForbidden);
      const decisionsBefore = proxy.requests('/v1/decisions');
      expect(errorsByPath(await personQuery(frozen.url, first!.nic))).toEqual(nameForbidden);
      // The frozen OE asked the PDP per request instead of using its table.
      expect(proxy.requests('/v1/decisions')).toBe(decisionsBefore + 1);
      const record = await lastRecord(frozen.audit, first!.nic);
      expect(record.decisionId).not.toMatch(/^table:/);
      expect(record.policyVersion).toBe(String(activation.body['version']));
    } finally {
      proxy.release();
      await restoreSeedPolicies();
    }

    // The PDP's dry run recomputes the audited table decision from its id, at the recorded time too.
    const request = {
      consumerId: 'passport-app',
      purpose: 'passport-application',
      subjectId: first!.nic,
      fields: [{ providerKey: 'rgd', schemaId: 'abc-212', field: 'getPersonInfo.fullName' }],
    };
    for (const at of [undefined, tableRecord.occurredAt]) {
      const dry = await pdpAdmin('/dry-run', { tableId: tableRecord.decisionId, at, request });
      expect(dry.status).toBe(200);
      expect(dry.body.policyVersion).toBe(Number(tableRecord.policyVersion));
      expect(dry.body.fields[0]).toMatchObject({ decision: 'CONSENT_REQUIRED', reason: 'CONSENT_REQUIRED' });
      expect(dry.body.table).toMatchObject({
        tableId: tableRecord.decisionId!.slice('table:'.length),
        fields: [{ decision: 'CONSENT_REQUIRED', reason: 'CONSENT_REQUIRED' }],
      });
    }
  });

  it('a table fetched at 21:59 Farajaland time is valid until 22:00, and at 22:00 the OE decides OUTSIDE_TIME_WINDOW', async () => {
    // A PDP and an OE in-process, deciding by one clock the test moves (Farajaland is UTC+2).
    const clock = { now: new Date('2026-03-10T21:59:00+02:00') };
    const pdpEnv: Env = {
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      DATABASE_URL: await createDatabase('policy'),
      FUDI_ISSUER: t.url('identity-provider'),
    };
    const pdp = await buildPdp(readPdpConfig(pdpEnv), testLogger('policy-decision-point'), {
      clock: () => clock.now,
    });
    cleanups.push(() => pdp.close());
    await pdp.listen({ port: 0, host: '127.0.0.1' });
    const proxy = await startProxy(`http://127.0.0.1:${(pdp.server.address() as AddressInfo).port}`);
    const oe = await startOe(proxy.url, () => clock.now);
    const vehicle = () => graphql(oe.url, policeToken, VEHICLE_QUERY);

    await untilDecidedFromTables(oe.url, proxy, vehicle);
    const table = await call(
      proxy.url,
      '/v1/decision-tables/traffic-police-app/traffic-enforcement?subject=absent',
      oeToken,
    );
    expect(table.status).toBe(200);
    expect(table.body).toMatchObject({ validUntil: '2026-03-10T20:00:00.000Z', subject: 'absent' });
    expect(table.body.fields.find((f: { field: string }) => f.field === 'vehicle.make')).toMatchObject({
      decision: 'PERMIT',
    });

    clock.now = new Date('2026-03-10T21:59:59.999+02:00');
    const tablesBefore = proxy.requests('/v1/decision-tables');
    const decisionsBefore = proxy.requests('/v1/decisions');
    const inside = await vehicle();
    expect(inside.errors).toBeUndefined();
    expect(inside.data!['vehicle']).toMatchObject({ make: expect.any(String) });
    // Answered from the table it holds.
    expect(proxy.requests('/v1/decision-tables')).toBe(tablesBefore);
    expect(proxy.requests('/v1/decisions')).toBe(decisionsBefore);

    clock.now = new Date('2026-03-10T22:00:00+02:00');
    const outside = await vehicle();
    expect(errorsByPath(outside)).toEqual({
      'vehicle.make': 'FORBIDDEN OUTSIDE_TIME_WINDOW',
      'vehicle.model': 'FORBIDDEN OUTSIDE_TIME_WINDOW',
    });
    // The expired table was replaced, not asked per request.
    expect(proxy.requests('/v1/decision-tables')).toBe(tablesBefore + 1);
  });
});
