/**
 * The OE's check that a token's client is a consumer the PDP registers (`GET /v1/consumers/{id}` at the
 * PDP): how often the OE asks, how an operator's registration takes effect, and that the OE fails closed
 * when the PDP cannot answer. One real stack (as ./init.sh starts it) plus, per test, a second OE
 * in-process that reaches the stack's PDP through a fault proxy; everything real, on loopback.
 * No assertion depends on how fast the machine is, apart from generous upper bounds that only catch a hang.
 */
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { exportCitizenRecords } from '@ndx/audit';
import { createTestDatabase, testLogger, type TestDatabase } from '@ndx/service-kit/testing';
import { demoCitizens } from '@ndx/synthetic-data';
import { buildApp } from '@ndx/orchestration-engine';
import { readConfig } from '@ndx/orchestration-engine/config';
import { addFudiClient, ndxApiToken, registerConsumer } from './support/consumer-onboarding.ts';
import { startFaultProvider, type FaultMode, type FaultProvider } from './support/fault-provider.ts';
import { startTestStack, type TestStack } from './support/test-stack.ts';

type Env = Record<string, string | undefined>;

const amara = demoCitizens.find((c) => c.nic === '199560201234')!;
const NAME_QUERY = `query { personInfo(nic: "${amara.nic}") { name } }`;
/** The OE's timeout for PDP calls here. */
const GATE_TIMEOUT_MS = 2_000;
/** An upper bound on an answer that only a hang exceeds. */
const HANG_MS = 10_000;

interface Answer {
  status: number;
  code: string | undefined;
  message: string;
  body: { data?: unknown; errors?: { message: string; extensions: { code: string } }[] };
}

let t: TestStack;
let auditDatabase: TestDatabase | undefined;
let auditPool: pg.Pool;
let auditDatabaseUrl: string;
/** A fault proxy in front of the stack's PDP: healthy unless a test switches it. */
let pdp: FaultProvider;
let passportToken: string;
let trafficToken: string;
const cleanups: (() => Promise<unknown>)[] = [];

/** A second OE, in-process, wired to the stack's FUDI, CE and providers, and to the PDP through the proxy. */
async function startOe(overrides: Env = {}): Promise<string> {
  const env: Env = {
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    DATABASE_URL: auditDatabaseUrl,
    FUDI_ISSUER: t.url('identity-provider'),
    PDP_URL: pdp.url,
    CONSENT_ENGINE_URL: t.url('consent-engine'),
    PROVIDER_URL_RGD: t.url('rgd-api'),
    PROVIDER_URL_DRP: t.url('drp-api-adapter'),
    PROVIDER_URL_DMT: t.url('dmt-api-adapter'),
    OE_CLIENT_SECRET: t.secret('fudi.client.orchestration-engine'),
    RGD_CLIENT_SECRET: t.secret('rgd.client.ndx'),
    DRP_ADAPTER_API_KEY: t.secret('drp.adapter-api-key'),
    GATE_TIMEOUT_MS: String(GATE_TIMEOUT_MS),
    ...overrides,
  };
  const app: FastifyInstance = await buildApp(readConfig(env), testLogger('orchestration-engine'), env);
  cleanups.push(() => app.close());
  await app.listen({ port: 0, host: '127.0.0.1' });
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}

async function query(
  oeUrl: string,
  token: string,
  text = '{ __typename }',
  headers: Record<string, string> = {},
): Promise<Answer> {
  const response = await fetch(`${oeUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, ...headers },
    body: JSON.stringify({ query: text }),
    signal: AbortSignal.timeout(HANG_MS),
  });
  const body = (await response.json()) as Answer['body'];
  const error = body.errors?.[0];
  return { status: response.status, code: error?.extensions.code, message: error?.message ?? '', body };
}

/** Amara's audit records in the in-process OEs' audit log. */
async function auditedForAmara(): Promise<number> {
  let count = 0;
  for await (const _record of exportCitizenRecords(auditPool, amara.nic)) count++;
  return count;
}

const registryCalls = (consumerId: string) => pdp.requests(`/v1/consumers/${consumerId}`);
/** Calls that ask the PDP for a policy decision: per request, or for a decision table. */
const policyCalls = () => pdp.requests('/v1/decisions') + pdp.requests('/v1/decision-tables');

beforeAll(async () => {
  t = await startTestStack({ only: ['orchestration-engine'] });
  passportToken = await t.clientToken('passport-app', 'urn:ndx:api');
  trafficToken = await t.clientToken('traffic-police-app', 'urn:ndx:api');
  auditDatabase = await createTestDatabase('oe_registry_audit');
  auditDatabaseUrl = auditDatabase.url;
  auditPool = new pg.Pool({ connectionString: auditDatabaseUrl, max: 2 });
  pdp = await startFaultProvider({ upstream: t.url('policy-decision-point') });
}, 240_000);

afterEach(async () => {
  pdp.release();
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
  pdp.setMode('healthy');
  await pdp.up();
  pdp.resetCounts();
});

afterAll(async () => {
  await pdp?.stop();
  await auditPool?.end();
  await auditDatabase?.drop();
  await t?.stop();
});

describe('the OE asks the PDP whether a token’s client is a registered consumer', () => {
  it('asks once per client per cache period: concurrent first requests share one call, later ones reuse the answer', async () => {
    const oe = await startOe({ CONSUMER_REGISTRY_CACHE_MS: '60000' });
    const first = await Promise.all(Array.from({ length: 8 }, () => query(oe, passportToken)));
    expect(first.map((a) => a.status)).toEqual(Array(8).fill(200));
    for (let i = 0; i < 5; i++) expect((await query(oe, passportToken)).status).toBe(200);
    expect((await query(oe, trafficToken)).status).toBe(200);
    expect((await query(oe, trafficToken)).status).toBe(200);
    expect({ passport: registryCalls('passport-app'), traffic: registryCalls('traffic-police-app') }).toEqual(
      {
        passport: 1,
        traffic: 1,
      },
    );
  });

  it('with no cache (CONSUMER_REGISTRY_CACHE_MS=0) asks on every request', async () => {
    const oe = await startOe({ CONSUMER_REGISTRY_CACHE_MS: '0' });
    for (let i = 0; i < 3; i++) expect((await query(oe, passportToken)).status).toBe(200);
    expect(registryCalls('passport-app')).toBe(3);
  });

  it('refuses a client until an operator registers it at the PDP, then answers it once the cached answer lapses', async () => {
    const oe = await startOe({ CONSUMER_REGISTRY_CACHE_MS: '1000' });
    const secret = await addFudiClient(t, ['--id', 'land-registry-app', '--resource', 'urn:ndx:api']);
    const token = await ndxApiToken(t, 'land-registry-app', secret!);
    // It names its purpose (before it is registered, the PDP's registry gives it no default).
    const purpose = { 'ndx-purpose': 'land-transfer' };
    expect(await query(oe, token, undefined, purpose)).toMatchObject({
      status: 403,
      code: 'UNKNOWN_CONSUMER',
    });

    await registerConsumer(t, {
      consumerId: 'land-registry-app',
      displayName: 'Land registry',
      member: 'mlnr',
      purposes: ['land-transfer'],
    });
    await expect
      .poll(async () => (await query(oe, token, undefined, purpose)).status, {
        timeout: HANG_MS,
        interval: 250,
      })
      .toBe(200);
    expect(registryCalls('land-registry-app')).toBeGreaterThanOrEqual(2);
  });
});

describe('when the PDP cannot say, the OE answers nothing (503 POLICY_UNAVAILABLE)', () => {
  const cases = [
    ['is down (connection refused)', 'down', {}, 0],
    ['answers HTTP 503', 'http-503', {}, 0],
    ['answers HTTP 500', 'http-500', {}, 0],
    ['answers slower than the OE’s timeout', 'slow', { slowMs: 60_000 }, 1],
    ['answers 200 with a body that is not JSON', 'invalid-json', {}, 0],
    ['answers 200 with a “yes” of the wrong shape', 'wrong-shape', { json: { registered: true } }, 0],
    [
      'answers 200 with another consumer’s entry',
      'wrong-shape',
      {
        json: {
          consumerId: 'traffic-police-app',
          displayName: 'DMT traffic police',
          member: 'dmt',
          purposes: ['traffic-enforcement'],
          policyVersion: 1,
        },
      },
      0,
    ],
  ] as const satisfies readonly [string, FaultMode | 'down', { slowMs?: number; json?: unknown }, number][];

  it.each(cases)(
    'registry %s: refused at authentication, nothing audited; answered again once the PDP answers',
    async (_behaviour, mode, options, hungUp) => {
      const oe = await startOe();
      const audited = await auditedForAmara();
      if (mode === 'down') await pdp.down();
      else pdp.setMode(mode, { ...options, path: '/v1/consumers/' });

      const refused = await query(oe, passportToken, NAME_QUERY);
      expect({ status: refused.status, code: refused.code }).toEqual({
        status: 503,
        code: 'POLICY_UNAVAILABLE',
      });
      expect(refused.body.data).toBeUndefined();
      expect(JSON.stringify(refused.body)).not.toContain(amara.birthName);
      expect(policyCalls()).toBe(0);
      expect(await auditedForAmara()).toBe(audited);
      await expect.poll(() => pdp.abandoned('/v1/consumers/'), { timeout: HANG_MS }).toBe(hungUp);

      // A failure is not remembered: the next request asks again and passes.
      pdp.release();
      await pdp.up();
      const answered = await query(oe, passportToken, NAME_QUERY);
      expect(answered.status).toBe(200);
      expect(answered.body.errors?.map((e) => e.extensions.code)).toEqual(['CONSENT_REQUIRED']);
      // The policy was asked once (a decision table, or a per-request decision while the feed is not yet current).
      expect(policyCalls()).toBe(1);
      expect(await auditedForAmara()).toBe(audited + 1);
    },
  );
});
