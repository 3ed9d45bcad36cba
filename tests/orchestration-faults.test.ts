/**
 * How the Orchestration Engine behaves when what it depends on fails: providers down, slow, broken
 * or garbled; the circuit breaker; RGD token expiry and rejection; the audit log gone; the PDP or CE
 * gone, failing, slow or garbled.
 * One real stack (as ./init.sh starts it) plus, per test, a second OE in-process whose providers,
 * gates or audit database are made to fail; everything real, on loopback.
 * No assertion depends on how fast the machine is: what is checked is what the OE did and recorded
 * (audited provider outcomes, breaker state, requests the fault proxies saw or were abandoned), with
 * at most a generous upper bound that only catches a hang.
 */
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { exportCitizenRecords, verifyChain, type AuditRecord } from '@ndx/audit';
import { createTestDatabase, freePort, testLogger, type TestDatabase } from '@ndx/service-kit/testing';
import { demoCitizens } from '@ndx/synthetic-data';
import { buildApp } from '@ndx/orchestration-engine';
import { readConfig } from '@ndx/orchestration-engine/config';
import { buildApp as buildRgd } from '@ndx/rgd-api';
import { readConfig as readRgdConfig } from '@ndx/rgd-api/config';
import { decideInPortal } from './support/consent-portal.ts';
import { startFaultProvider, type FaultMode, type FaultProvider } from './support/fault-provider.ts';
import { repoRoot, startTestStack, type TestStack } from './support/test-stack.ts';
import { runsOneAtATime } from './support/one-at-a-time.ts';

type Env = Record<string, string | undefined>;

const amara = demoCitizens.find((c) => c.nic === '199560201234')!;

const PASSPORT_QUERY = `query Passport($nic: ID!) {
  personInfo(nic: $nic) {
    fullName name otherNames address profession dateOfBirth sex
    birthInfo { birthRegistrationNumber birthPlace district }
  }
}`;
/** Paths of the passport query served by DRP; the rest come from RGD. */
const DRP_PATHS = [
  'personInfo.address',
  'personInfo.fullName',
  'personInfo.otherNames',
  'personInfo.profession',
];
const DRP_TIMEOUT_MS = 400;
/** The OE's timeout for PDP and CE calls in the tests where one of them is too slow. */
const GATE_TIMEOUT_MS = 2_000;
/** An upper bound on a refused or degraded answer that only a hang exceeds. */
const HANG_MS = 10_000;

interface Answer {
  status: number;
  elapsedMs: number;
  traceId: string;
  text: string;
  data?: { personInfo?: Record<string, unknown> | null } | null;
  errors?: { message: string; path?: (string | number)[]; extensions: { code: string } }[];
}

let t: TestStack;
// Alone among the timing-sensitive files (the packages' tests run beside it).
runsOneAtATime();
let passportToken: string;
let admin: pg.Pool;
const databases: TestDatabase[] = [];
let auditDatabase: { name: string; url: string };
let auditPool: pg.Pool;
let drp: FaultProvider;
/** Fault proxies in front of the stack's RGD, PDP and CE: healthy unless a test switches them. */
let rgd: FaultProvider;
let pdp: FaultProvider;
let ce: FaultProvider;
let workDir: string;
let shortTimeoutFlConfig: string;
let longTimeoutFlConfig: string;
const cleanups: (() => Promise<unknown>)[] = [];

/** A fresh database on the test run's PostgreSQL, dropped after the file. */
async function createDatabase(label: string): Promise<TestDatabase> {
  const database = await createTestDatabase(`oe_faults_${label}`);
  databases.push(database);
  return database;
}

/** A second OE, in-process, wired to the stack's FUDI, PDP and CE, with `overrides` on top. */
async function startOe(overrides: Env = {}): Promise<{ url: string; app: FastifyInstance }> {
  const env: Env = {
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    DATABASE_URL: auditDatabase.url,
    FUDI_ISSUER: t.url('identity-provider'),
    PDP_URL: t.url('policy-decision-point'),
    CONSENT_ENGINE_URL: t.url('consent-engine'),
    PROVIDER_URL_RGD: t.url('rgd-api'),
    PROVIDER_URL_DRP: drp.url,
    PROVIDER_URL_DMT: t.url('dmt-api-adapter'),
    OE_CLIENT_SECRET: t.secret('fudi.client.orchestration-engine'),
    RGD_CLIENT_SECRET: t.secret('rgd.client.ndx'),
    DRP_ADAPTER_API_KEY: t.secret('drp.adapter-api-key'),
    BREAKER_RESET_MS: '1000',
    BREAKER_VOLUME_THRESHOLD: '50',
    ...overrides,
  };
  const app = await buildApp(readConfig(env), testLogger('orchestration-engine'), env);
  cleanups.push(() => app.close());
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, app };
}

async function passportQuery(oeUrl: string, nic = amara.nic): Promise<Answer> {
  const started = performance.now();
  const response = await fetch(`${oeUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${passportToken}` },
    body: JSON.stringify({ query: PASSPORT_QUERY, variables: { nic } }),
  });
  const text = await response.text();
  const elapsedMs = performance.now() - started;
  const traceId = (response.headers.get('traceparent') ?? '').split('-')[1] ?? '';
  return { status: response.status, elapsedMs, traceId, text, ...(JSON.parse(text) as object) };
}

const codesByPath = (answer: Answer) =>
  Object.fromEntries((answer.errors ?? []).map((e) => [(e.path ?? []).join('.'), e.extensions.code]));

/** The RGD half of amara's record, as the real RGD returns it. */
function expectRgdFields(answer: Answer): void {
  expect(answer.data!.personInfo).toMatchObject({
    name: amara.birthName,
    dateOfBirth: amara.dateOfBirth,
    sex: amara.sex,
  });
  const birthInfo = answer.data!.personInfo!['birthInfo'] as Record<string, unknown>;
  expect(birthInfo['birthRegistrationNumber']).toEqual(expect.any(String));
}

/** DRP's four fields are null, each with exactly one error of `code` on its path, and nothing else failed. */
function expectDrpWithheld(answer: Answer, code: string): void {
  expect(answer.status).toBe(200);
  for (const path of DRP_PATHS) expect(answer.data!.personInfo![path.split('.')[1]!]).toBeNull();
  expect(codesByPath(answer)).toEqual(Object.fromEntries(DRP_PATHS.map((p) => [p, code])));
  expect(answer.errors).toHaveLength(DRP_PATHS.length);
  expectRgdFields(answer);
}

async function auditRecordOf(traceId: string, pool = auditPool): Promise<AuditRecord> {
  for await (const record of exportCitizenRecords(pool, amara.nic)) {
    if (record.traceId === traceId) return record;
  }
  throw new Error(`no audit record with trace id ${traceId}`);
}

function expectAuditedDrpFailure(record: AuditRecord, outcome: string, reason: string): void {
  expect(record.outcome).toBe('PARTIAL');
  expect(record.providers.find((p) => p.providerKey === 'drp')).toMatchObject({ outcome });
  expect(record.providers.find((p) => p.providerKey === 'rgd')).toMatchObject({ outcome: 'OK' });
  expect(record.fieldsWithheld.map((f) => `${f.providerKey} ${f.field} ${f.reason}`).sort()).toEqual(
    ['otherNames', 'fullName', 'permanentAddress', 'profession']
      .map((f) => `drp person.${f} ${reason}`)
      .sort(),
  );
  expect(record.fieldsReleased.every((f) => f.providerKey === 'rgd')).toBe(true);
  expect(record.fieldsReleased.length).toBeGreaterThan(0);
}

async function breakerState(oeUrl: string, provider: string): Promise<number> {
  const metrics = await (await fetch(`${oeUrl}/metrics`)).text();
  const pattern = new RegExp(`^ndx_circuit_breaker_state\\{[^}]*provider="${provider}"[^}]*\\} (\\S+)$`, 'm');
  const value = pattern.exec(metrics)?.[1];
  if (value === undefined) throw new Error(`no ndx_circuit_breaker_state for ${provider} in /metrics`);
  return Number(value);
}

/** No value of the citizen's record appears anywhere in a body. */
function expectNoPersonalData(answer: Answer): void {
  for (const value of [amara.birthName, amara.drpFullName, amara.dateOfBirth].filter(Boolean)) {
    expect(answer.text).not.toContain(value);
  }
}

beforeAll(async () => {
  t = await startTestStack({ only: ['orchestration-engine'] });
  passportToken = await t.clientToken('passport-app', 'urn:ndx:api');
  admin = new pg.Pool({ connectionString: t.stack.postgresAdminUrl, max: 2 });
  auditDatabase = await createDatabase('audit');
  auditPool = new pg.Pool({ connectionString: auditDatabase.url, max: 2 });
  drp = await startFaultProvider({ upstream: t.url('drp-api-adapter') });
  rgd = await startFaultProvider({ upstream: t.url('rgd-api') });
  pdp = await startFaultProvider({ upstream: t.url('policy-decision-point') });
  ce = await startFaultProvider({ upstream: t.url('consent-engine') });

  // The citizen approves NDX's consent request in the real portal, so fields are released and providers called.
  const first = await passportQuery(t.url('orchestration-engine'));
  const pending = first.errors!.find((e) => e.extensions.code === 'CONSENT_REQUIRED') as
    { extensions: { consentPortalUrl: string } } | undefined;
  if (pending) {
    const decided = await decideInPortal({
      consentPortalUrl: pending.extensions.consentPortalUrl,
      redirectUri: `${t.url('passport-app')}/consent/return`,
      nic: amara.nic,
      password: amara.password,
      decision: 'approve-all',
    });
    expect(decided.status).toBe('ACTIVE');
  }

  // Copies of fl-config.json where DRP must answer within DRP_TIMEOUT_MS, or may take 20 s.
  workDir = await mkdtemp(join(tmpdir(), 'oe-faults-'));
  const flConfigWithDrpTimeout = async (timeoutMs: number) => {
    const flConfig = JSON.parse(await readFile(join(repoRoot, 'fl-config.json'), 'utf8')) as {
      providers: { providerKey: string; timeoutMs: number; schemaFile?: string }[];
    };
    for (const provider of flConfig.providers) {
      if (provider.schemaFile) provider.schemaFile = join(repoRoot, provider.schemaFile);
      if (provider.providerKey === 'drp') provider.timeoutMs = timeoutMs;
    }
    const path = join(workDir, `fl-config-drp-${timeoutMs}.json`);
    await writeFile(path, JSON.stringify(flConfig));
    return path;
  };
  shortTimeoutFlConfig = await flConfigWithDrpTimeout(DRP_TIMEOUT_MS);
  longTimeoutFlConfig = await flConfigWithDrpTimeout(20_000);
}, 240_000);

afterEach(async () => {
  const proxies = [drp, rgd, pdp, ce].filter(Boolean);
  for (const proxy of proxies) proxy.release();
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
  for (const proxy of proxies) {
    proxy.setMode('healthy');
    await proxy.up();
    proxy.resetCounts();
  }
});

afterAll(async () => {
  for (const proxy of [drp, rgd, pdp, ce]) await proxy?.stop();
  await auditPool?.end();
  await admin?.end();
  for (const database of databases) await database.drop();
  await t?.stop();
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe('a provider that fails costs only its own fields', () => {
  it('with every provider, the PDP and the CE healthy, the second OE returns the whole merged record through the fault proxies', async () => {
    const oe = await startOe({ PROVIDER_URL_RGD: rgd.url, PDP_URL: pdp.url, CONSENT_ENGINE_URL: ce.url });
    const answer = await passportQuery(oe.url);
    expect(answer.status).toBe(200);
    expect(answer.errors).toBeUndefined();
    expectRgdFields(answer);
    expect(answer.data!.personInfo).toMatchObject({ fullName: amara.drpFullName });
    expect(drp.requests()).toBe(1);
    expect(rgd.requests()).toBe(1);
    // One policy decision: per request, or one decision table once the change feed proves tables current.
    expect(pdp.requests('/v1/decision')).toBe(1);
    expect(ce.requests('/v1/consents/check')).toBe(1);
    expect((await auditRecordOf(answer.traceId)).outcome).toBe('SUCCESS');
    const metrics = await (await fetch(`${oe.url}/metrics`)).text();
    for (const stage of ['validate', 'plan', 'pdp', 'ce', 'fetch', 'merge', 'audit']) {
      expect(metrics).toMatch(
        new RegExp(`^ndx_stage_duration_seconds_count\\{[^}]*stage="${stage}"[^}]*\\} 1$`, 'm'),
      );
    }
    for (const provider of ['rgd', 'drp']) {
      expect(metrics).toMatch(
        new RegExp(`^ndx_provider_duration_seconds_count\\{[^}]*provider="${provider}"[^}]*\\} 1$`, 'm'),
      );
    }
  });

  it('DRP down (connection refused): RGD fields returned, DRP fields PROVIDER_UNAVAILABLE, audited UNAVAILABLE', async () => {
    const oe = await startOe();
    await drp.down();
    const answer = await passportQuery(oe.url);
    expectDrpWithheld(answer, 'PROVIDER_UNAVAILABLE');
    expectAuditedDrpFailure(await auditRecordOf(answer.traceId), 'UNAVAILABLE', 'PROVIDER_UNAVAILABLE');
  });

  it('DRP slower than its timeout: the OE gives up on it after the timeout, DRP fields PROVIDER_UNAVAILABLE, audited TIMEOUT', async () => {
    const oe = await startOe({ FL_CONFIG_PATH: shortTimeoutFlConfig });
    drp.setMode('slow', { slowMs: 60_000 });
    const answer = await passportQuery(oe.url);
    expectDrpWithheld(answer, 'PROVIDER_UNAVAILABLE');
    expect(answer.elapsedMs).toBeLessThan(HANG_MS);
    const record = await auditRecordOf(answer.traceId);
    expectAuditedDrpFailure(record, 'TIMEOUT', 'PROVIDER_UNAVAILABLE');
    // Not before the configured timeout (a lower bound, which load cannot break).
    expect(record.providers.find((p) => p.providerKey === 'drp')!.latencyMs).toBeGreaterThanOrEqual(
      DRP_TIMEOUT_MS - 5,
    );
    // The OE hung up on the one request it sent, rather than waiting for DRP or retrying.
    expect(drp.requests()).toBe(1);
    await expect.poll(() => drp.abandoned(), { timeout: HANG_MS }).toBe(1);
  });

  it('DRP answers HTTP 500: RGD fields returned, DRP fields PROVIDER_ERROR, audited ERROR with the status', async () => {
    const oe = await startOe();
    drp.setMode('http-500');
    const answer = await passportQuery(oe.url);
    expectDrpWithheld(answer, 'PROVIDER_ERROR');
    expect(answer.text).not.toContain('Internal Server Error');
    const record = await auditRecordOf(answer.traceId);
    expectAuditedDrpFailure(record, 'ERROR', 'PROVIDER_ERROR');
    expect(record.providers.find((p) => p.providerKey === 'drp')!.httpStatus).toBe(500);
  });

  it.each(['invalid-json', 'not-graphql'] as const)(
    'DRP answers %s: RGD fields returned, DRP fields PROVIDER_ERROR, audited ERROR',
    async (mode) => {
      const oe = await startOe();
      drp.setMode(mode);
      const answer = await passportQuery(oe.url);
      expectDrpWithheld(answer, 'PROVIDER_ERROR');
      expectAuditedDrpFailure(await auditRecordOf(answer.traceId), 'ERROR', 'PROVIDER_ERROR');
    },
  );

  it('a connection error is retried exactly once; an HTTP 500 is not retried', async () => {
    const oe = await startOe();
    drp.setMode('reset');
    const reset = await passportQuery(oe.url);
    expectDrpWithheld(reset, 'PROVIDER_UNAVAILABLE');
    expect(drp.requests()).toBe(2);
    expect((await auditRecordOf(reset.traceId)).providers.find((p) => p.providerKey === 'drp')).toMatchObject(
      { outcome: 'UNAVAILABLE', attempts: 2 },
    );

    drp.resetCounts();
    drp.setMode('http-500');
    const failed = await passportQuery(oe.url);
    expectDrpWithheld(failed, 'PROVIDER_ERROR');
    expect(drp.requests()).toBe(1);
    expect(
      (await auditRecordOf(failed.traceId)).providers.find((p) => p.providerKey === 'drp'),
    ).toMatchObject({ outcome: 'ERROR', attempts: 1 });
  });
});

describe('the circuit breaker', () => {
  /** Polls the breaker's state in /metrics until it is `state` (0 closed, 1 half-open, 2 open). */
  const breakerReaches = (oeUrl: string, state: number) =>
    expect.poll(() => breakerState(oeUrl, 'drp'), { timeout: 20_000, interval: 100 }).toBe(state);

  it('opens after repeated failures so DRP is not called at all, lets one trial call through once the reset time has passed, and closes when it succeeds', async () => {
    // The reset time only has to outlast one query while open; a DRP timeout of 20 s lets the held trial wait.
    const oe = await startOe({
      BREAKER_VOLUME_THRESHOLD: '3',
      BREAKER_RESET_MS: '5000',
      FL_CONFIG_PATH: longTimeoutFlConfig,
    });
    expect(await breakerState(oe.url, 'drp')).toBe(0);

    drp.setMode('http-500');
    for (let i = 0; i < 3; i++) expectDrpWithheld(await passportQuery(oe.url), 'PROVIDER_ERROR');
    expect(drp.requests()).toBe(3);
    expect(await breakerState(oe.url, 'drp')).toBe(2);

    // Open: DRP sees nothing, the fields are PROVIDER_UNAVAILABLE and the audit says the breaker refused.
    drp.setMode('healthy');
    const shortCircuited = await passportQuery(oe.url);
    expectDrpWithheld(shortCircuited, 'PROVIDER_UNAVAILABLE');
    expect(shortCircuited.elapsedMs).toBeLessThan(HANG_MS);
    expect(drp.requests()).toBe(3);
    const record = await auditRecordOf(shortCircuited.traceId);
    expect(record.providers.find((p) => p.providerKey === 'drp')).toMatchObject({ outcome: 'CIRCUIT_OPEN' });

    // After the reset time the breaker is half-open and lets one trial call through.
    await breakerReaches(oe.url, 1);
    drp.setMode('held');
    const trial = passportQuery(oe.url);
    await expect.poll(() => drp.requests(), { timeout: HANG_MS }).toBe(4);

    // While the trial is in flight, another query is refused by the breaker: PROVIDER_UNAVAILABLE
    // like any open breaker, not a provider error, and DRP sees nothing of it.
    const refused = await passportQuery(oe.url);
    expectDrpWithheld(refused, 'PROVIDER_UNAVAILABLE');
    expect(
      (await auditRecordOf(refused.traceId)).providers.find((p) => p.providerKey === 'drp'),
    ).toMatchObject({ outcome: 'CIRCUIT_OPEN' });
    expect(drp.requests()).toBe(4);
    expect(await breakerState(oe.url, 'drp')).toBe(1);

    // The trial succeeds: the whole record comes back and the breaker closes.
    drp.release();
    const succeeded = await trial;
    expect(succeeded.errors).toBeUndefined();
    expect(succeeded.data!.personInfo).toMatchObject({ fullName: amara.drpFullName, name: amara.birthName });
    expect(
      (await auditRecordOf(succeeded.traceId)).providers.find((p) => p.providerKey === 'drp'),
    ).toMatchObject({ outcome: 'OK' });
    expect(await breakerState(oe.url, 'drp')).toBe(0);

    const recovered = await passportQuery(oe.url);
    expect(recovered.errors).toBeUndefined();
    expect(drp.requests()).toBe(5);
    expect(await breakerState(oe.url, 'drp')).toBe(0);
  }, 90_000);
});

describe('RGD access tokens', () => {
  /** A real RGD in-process on the stack's rgd database, counting tokens issued and requests refused with 401. */
  async function startRgd(ttlSeconds: number) {
    let clockOffsetMs = 0;
    const env: Env = {
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: 'silent',
      DATABASE_URL: t.databaseUrl('rgd'),
      RGD_NDX_CLIENT_SECRET: t.secret('rgd.client.ndx'),
      RGD_ISSUER: 'http://127.0.0.1/rgd-under-test',
      RGD_TOKEN_TTL_SECONDS: String(ttlSeconds),
    };
    const app = await buildRgd(readRgdConfig(env), testLogger('rgd-api'), {
      clock: () => new Date(Date.now() + clockOffsetMs),
    });
    const counts = { tokensIssued: 0, rejected401: 0, graphql: 0 };
    app.addHook('onResponse', async (request, reply) => {
      if (request.url.startsWith('/oauth2/token') && reply.statusCode === 200) counts.tokensIssued++;
      if (request.url.startsWith('/graphql')) {
        counts.graphql++;
        if (reply.statusCode === 401) counts.rejected401++;
      }
    });
    cleanups.push(() => app.close());
    await app.listen({ port: 0, host: '127.0.0.1' });
    return {
      url: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`,
      counts,
      advanceClock: (ms: number) => {
        clockOffsetMs += ms;
      },
    };
  }

  it('queries spread over 6 s, past several 2 s token lifetimes, all succeed on renewed tokens without a 401', async () => {
    const rgd = await startRgd(2);
    const oe = await startOe({ PROVIDER_URL_RGD: rgd.url });
    const started = Date.now();
    let queries = 0;
    // At least 6 queries and at least 6 s, however slow the machine: three token lifetimes at the least.
    while ((Date.now() - started < 6_000 || queries < 6) && queries < 30) {
      const answer = await passportQuery(oe.url);
      expect(answer.errors).toBeUndefined();
      expectRgdFields(answer);
      queries++;
      await new Promise((resolve) => setTimeout(resolve, 400));
    }
    expect(rgd.counts.graphql).toBe(queries);
    expect(rgd.counts.tokensIssued).toBeGreaterThanOrEqual(3);
    expect(rgd.counts.rejected401).toBe(0);
  }, 60_000);

  it('a cached token RGD rejects with 401 is replaced once and the query still succeeds', async () => {
    const rgd = await startRgd(3_600);
    const oe = await startOe({ PROVIDER_URL_RGD: rgd.url });
    expectRgdFields(await passportQuery(oe.url));
    expect(rgd.counts).toEqual({ tokensIssued: 1, rejected401: 0, graphql: 1 });

    // RGD's clock jumps past the token's expiry (and its 5 s leeway): the OE still holds it as valid.
    rgd.advanceClock(2 * 3_600_000);
    const answer = await passportQuery(oe.url);
    expect(answer.errors).toBeUndefined();
    expectRgdFields(answer);
    expect(rgd.counts).toEqual({ tokensIssued: 2, rejected401: 1, graphql: 3 });
    expect(
      (await auditRecordOf(answer.traceId)).providers.find((p) => p.providerKey === 'rgd'),
    ).toMatchObject({
      outcome: 'OK',
    });
  });
});

describe('when a gate or the audit log is gone, nothing is released', () => {
  it('audit database unreachable: 503 AUDIT_UNAVAILABLE with no data; once it is back, queries succeed again', async () => {
    const database = await createDatabase('down');
    const oe = await startOe({ DATABASE_URL: database.url });
    expect((await passportQuery(oe.url)).status).toBe(200);

    await admin.query(`ALTER DATABASE ${database.name} ALLOW_CONNECTIONS false`);
    try {
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [
        database.name,
      ]);
      const refused = await passportQuery(oe.url);
      expect(refused.status).toBe(503);
      expect(refused.data).toBeNull();
      expect(refused.errors!.map((e) => e.extensions.code)).toEqual(['AUDIT_UNAVAILABLE']);
      expectNoPersonalData(refused);
    } finally {
      await admin.query(`ALTER DATABASE ${database.name} ALLOW_CONNECTIONS true`);
    }

    const again = await passportQuery(oe.url);
    expect(again.status).toBe(200);
    expect(again.errors).toBeUndefined();
    expectRgdFields(again);
    const pool = new pg.Pool({ connectionString: database.url, max: 1 });
    try {
      expect((await auditRecordOf(again.traceId, pool)).outcome).toBe('SUCCESS');
      const chain = await verifyChain(pool);
      expect(chain).toMatchObject({ ok: true, count: 2 });
    } finally {
      await pool.end();
    }
  });

  /**
   * Failed closed: 503 with the gate's code and nothing else, no personal value in the body, no
   * provider called (DRP's and RGD's proxies saw nothing, the OE counted no provider call), and the
   * refusal audited with nothing released.
   */
  async function expectFailedClosed(oeUrl: string, answer: Answer, code: string): Promise<void> {
    expect(answer.status).toBe(503);
    expect(answer.data).toBeNull();
    expect(answer.errors!.map((e) => e.extensions.code)).toEqual([code]);
    expectNoPersonalData(answer);
    expect(drp.requests('/')).toBe(0);
    expect(rgd.requests('/')).toBe(0);
    const metrics = await (await fetch(`${oeUrl}/metrics`)).text();
    expect(metrics).not.toMatch(/^ndx_provider_calls_total\{/m);
    const record = await auditRecordOf(answer.traceId);
    expect(record.outcome).toBe('ERROR');
    expect(record.fieldsReleased).toEqual([]);
    expect(record.providers).toEqual([]);
    expect(record.fieldsRequested.length).toBeGreaterThan(0);
    expect(record.fieldsWithheld.length).toBe(record.fieldsRequested.length);
    expect(new Set(record.fieldsWithheld.map((f) => f.reason))).toEqual(new Set(['INTERNAL_ERROR']));
  }

  it('PDP unreachable: 503 POLICY_UNAVAILABLE and no data', async () => {
    // The decision call finds no PDP; the consumer registry, asked at authentication, still answers (a PDP
    // that is down altogether is refused at authentication: tests/consumer-registry.test.ts).
    const oe = await startOe({ PDP_URL: pdp.url, PROVIDER_URL_RGD: rgd.url });
    // `/v1/decision` covers both /v1/decisions and /v1/decision-tables.
    pdp.setMode('reset', { path: '/v1/decision' });
    const answer = await passportQuery(oe.url);
    await expectFailedClosed(oe.url, answer, 'POLICY_UNAVAILABLE');
  });

  it('CE unreachable: 503 CONSENT_UNAVAILABLE and no data', async () => {
    const oe = await startOe({
      CONSENT_ENGINE_URL: `http://127.0.0.1:${await freePort()}`,
      PROVIDER_URL_RGD: rgd.url,
    });
    const answer = await passportQuery(oe.url);
    await expectFailedClosed(oe.url, answer, 'CONSENT_UNAVAILABLE');
  });

  /**
   * The ways a gate that does answer can misbehave, and whether the OE has to hang up on it.
   * `wrongShape` is well-formed JSON a careless client could read as a yes: one blanket PERMIT from
   * the PDP, a "covered" that is not a boolean from the CE.
   */
  const misbehaviours = (wrongShape: unknown) =>
    [
      ['answers HTTP 503', 'http-503', {}, 0],
      ['answers HTTP 500', 'http-500', {}, 0],
      ['answers slower than its timeout', 'slow', { slowMs: 60_000 }, 1],
      ['answers 200 with a body that is not JSON', 'invalid-json', {}, 0],
      ['answers 200 with JSON of the wrong shape', 'wrong-shape', { json: wrongShape }, 0],
    ] as const satisfies readonly [string, FaultMode, { slowMs?: number; json?: unknown }, number][];

  it.each(misbehaviours({ decisionId: 'd-1', policyVersion: '1', decision: 'PERMIT', fields: 'all' }))(
    'PDP %s to decisions and decision tables: 503 POLICY_UNAVAILABLE, no data, no provider called, refusal audited',
    async (_behaviour, mode, options, hungUp) => {
      const oe = await startOe({
        PDP_URL: pdp.url,
        PROVIDER_URL_RGD: rgd.url,
        GATE_TIMEOUT_MS: String(GATE_TIMEOUT_MS),
      });
      // Only the decision calls misbehave (per request, or the decision table the OE asks for while the
      // change feed proves tables current): the consumer registry, asked at authentication, answers.
      pdp.setMode(mode, { ...options, path: '/v1/decision' });
      const answer = await passportQuery(oe.url);
      await expectFailedClosed(oe.url, answer, 'POLICY_UNAVAILABLE');
      expect(answer.elapsedMs).toBeLessThan(HANG_MS);
      // The PDP was asked once, so the refusal is its answer's doing; a slow PDP was hung up on.
      expect(pdp.requests('/v1/decision')).toBe(1);
      await expect.poll(() => pdp.abandoned('/v1/decision'), { timeout: HANG_MS }).toBe(hungUp);
    },
  );

  /**
   * The PDP's change feed misbehaving, behind a second proxy in front of the PDP's proxy: `held` is a feed
   * that never answers (frozen); `wrongShape` promises an hour-long lease for a version that is no number.
   */
  const feedMisbehaviours = [
    ['is unreachable', 'reset', {}],
    ['answers HTTP 503', 'http-503', {}],
    ['answers HTTP 500', 'http-500', {}],
    ['never answers', 'held', {}],
    ['answers 200 with a body that is not JSON', 'invalid-json', {}],
    [
      'answers 200 with JSON of the wrong shape',
      'wrong-shape',
      { json: { activeVersion: 'latest', leaseMs: 3_600_000 } },
    ],
  ] as const satisfies readonly [string, FaultMode, { json?: unknown }][];

  async function startOeBehindFeed(mode: FaultMode, options: { json?: unknown }) {
    const feed = await startFaultProvider({ upstream: pdp.url });
    cleanups.push(async () => {
      feed.release();
      await feed.stop();
    });
    feed.setMode(mode, { ...options, path: '/v1/policy-changes' });
    const oe = await startOe({
      PDP_URL: feed.url,
      PROVIDER_URL_RGD: rgd.url,
      GATE_TIMEOUT_MS: String(GATE_TIMEOUT_MS),
    });
    // The OE has tried the feed (a held poll counts when it arrives).
    await expect.poll(() => feed.requests('/v1/policy-changes'), { timeout: HANG_MS }).toBeGreaterThan(0);
    return oe;
  }

  it.each(feedMisbehaviours)(
    'PDP change feed %s: no decision table is trusted, each query is decided per request and answered in full',
    async (_behaviour, mode, options) => {
      const oe = await startOeBehindFeed(mode, options);
      for (let i = 1; i <= 2; i++) {
        const answer = await passportQuery(oe.url);
        expect(answer.status).toBe(200);
        expect(answer.errors).toBeUndefined();
        expectRgdFields(answer);
        expect(pdp.requests('/v1/decisions')).toBe(i);
      }
      expect(pdp.requests('/v1/decision-tables')).toBe(0);
    },
  );

  it.each(feedMisbehaviours)(
    'PDP change feed %s and decisions failing: 503 POLICY_UNAVAILABLE, no data, no provider called, refusal audited',
    async (_behaviour, mode, options) => {
      const oe = await startOeBehindFeed(mode, options);
      pdp.setMode('http-503', { path: '/v1/decision' });
      const answer = await passportQuery(oe.url);
      await expectFailedClosed(oe.url, answer, 'POLICY_UNAVAILABLE');
      expect(pdp.requests('/v1/decisions')).toBe(1);
      expect(pdp.requests('/v1/decision-tables')).toBe(0);
    },
  );

  it.each(misbehaviours({ covered: 'yes', consentId: 'c-1', missingFields: [] }))(
    'CE %s: 503 CONSENT_UNAVAILABLE, no data, no provider called, refusal audited',
    async (_behaviour, mode, options, hungUp) => {
      const oe = await startOe({
        CONSENT_ENGINE_URL: ce.url,
        PROVIDER_URL_RGD: rgd.url,
        GATE_TIMEOUT_MS: String(GATE_TIMEOUT_MS),
      });
      ce.setMode(mode, options);
      const answer = await passportQuery(oe.url);
      await expectFailedClosed(oe.url, answer, 'CONSENT_UNAVAILABLE');
      expect(answer.elapsedMs).toBeLessThan(HANG_MS);
      // The CE was consulted once (amara has consent, so the check alone decides) and asked for no
      // pending consent after it failed; a slow CE was hung up on.
      expect(ce.requests('/v1/consents/check')).toBe(1);
      expect(ce.requests('/v1/consents')).toBe(1);
      await expect.poll(() => ce.abandoned('/v1/consents/check'), { timeout: HANG_MS }).toBe(hungUp);
    },
  );
});
