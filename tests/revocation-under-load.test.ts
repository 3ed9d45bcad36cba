/**
 * The revocation guarantee under load, on the real stack: while concurrent passport queries for a
 * consented citizen run through the OE, the consent is revoked through the CE's API; every query that
 * started after the revoke call returned released nothing under that consent (its answer: CONSENT_REQUIRED
 * on every consent field; its audit record: nothing released, every field withheld as CONSENT_REQUIRED),
 * and queries before it released under that consent (so the proof is not vacuous). A participant stalled
 * mid-request (a second OE whose coverage check is held at a proxy in front of the CE) does not hold the
 * revocation up and cannot weaken it.
 * The CE is asked on every query (no cache to invalidate), so this holds by construction; the test is
 * what shows it. Instants are the test process's own clock; no assertion depends on the machine's speed.
 */
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exportCitizenRecords, type AuditRecord } from '@ndx/audit';
import { testLogger } from '@ndx/service-kit/testing';
import { demoCitizens } from '@ndx/synthetic-data';
import { buildApp } from '@ndx/orchestration-engine';
import { readConfig } from '@ndx/orchestration-engine/config';
import { decideInPortal } from './support/consent-portal.ts';
import { startFaultProvider, type FaultProvider } from './support/fault-provider.ts';
import { startTestStack, type TestStack } from './support/test-stack.ts';

type Citizen = (typeof demoCitizens)[number];
const citizen = (nic: string): Citizen => demoCitizens.find((c) => c.nic === nic)!;
/** Both in RGD and DRP; neither has a consent the stack seeds (it seeds one for 783345678V). */
const bwalya = citizen('852321234V');
const esther = citizen('199066604567');

const PASSPORT_QUERY = `query Passport($nic: ID!) {
  personInfo(nic: $nic) {
    fullName name otherNames address profession dateOfBirth sex
    birthInfo { birthRegistrationNumber birthPlace district }
  }
}`;
/** Every leaf of the passport query: each needs the citizen's consent for the passport app. */
const LEAF_PATHS = [
  'personInfo.fullName',
  'personInfo.name',
  'personInfo.otherNames',
  'personInfo.address',
  'personInfo.profession',
  'personInfo.dateOfBirth',
  'personInfo.sex',
  'personInfo.birthInfo.birthRegistrationNumber',
  'personInfo.birthInfo.birthPlace',
  'personInfo.birthInfo.district',
].sort();
/**
 * Concurrent query loops, and how many answers they collect before the revocation and from queries
 * started after it (bounded load: a few seconds on an idle machine).
 */
const LOOPS = 8;
const ANSWERS_BEFORE = 3 * LOOPS;
const ANSWERS_AFTER = 3 * LOOPS;
/** How long collecting them may take on a loaded machine before the test gives up. */
const LOAD_TIMEOUT_MS = 90_000;
/** An upper bound that only a hang exceeds. */
const HANG_MS = 20_000;

interface Answer {
  /** performance.now() just before the request was sent, and when its answer had been read. */
  started: number;
  finished: number;
  status: number;
  reference: string | null;
  data?: { personInfo?: Record<string, unknown> | null } | null;
  errors?: { path?: (string | number)[]; extensions: { code: string } }[];
}

let t: TestStack;
let passportToken: string;
let operatorToken: string;
let auditPool: pg.Pool;
let ce: FaultProvider;
const cleanups: (() => Promise<unknown>)[] = [];

async function passportQuery(nic: string, oeUrl = t.url('orchestration-engine')): Promise<Answer> {
  const started = performance.now();
  const response = await fetch(`${oeUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${passportToken}` },
    body: JSON.stringify({ query: PASSPORT_QUERY, variables: { nic } }),
    signal: AbortSignal.timeout(60_000),
  });
  const body = (await response.json()) as Omit<Answer, 'started' | 'finished' | 'status' | 'reference'>;
  return {
    ...body,
    started,
    finished: performance.now(),
    status: response.status,
    reference: response.headers.get('ndx-audit-reference'),
  };
}

/**
 * `LOOPS` closed loops of passport queries for `nic`, each answer pushed to `answers` as it arrives, until
 * `stop()` is true (and in any case after a few hundred queries per loop).
 */
async function queryLoad(nic: string, answers: Answer[], stop: () => boolean): Promise<void> {
  await Promise.all(
    Array.from({ length: LOOPS }, async () => {
      for (let i = 0; i < 500 && !stop(); i++) answers.push(await passportQuery(nic));
    }),
  );
}

/** Waits (bounded) until at least `count` answers satisfy `which`. */
async function answersUntil(answers: Answer[], which: (a: Answer) => boolean, count: number) {
  await expect
    .poll(() => answers.filter(which).length, { timeout: LOAD_TIMEOUT_MS, interval: 50 })
    .toBeGreaterThanOrEqual(count);
}

/** The citizen approves every field of the passport app's request in the real portal; returns the consent id. */
async function consentTo(person: Citizen): Promise<string> {
  const first = await passportQuery(person.nic);
  const pending = first.errors?.find((e) => e.extensions.code === 'CONSENT_REQUIRED') as
    { extensions: { consentPortalUrl: string } } | undefined;
  expect(pending?.extensions.consentPortalUrl, JSON.stringify(first)).toMatch(/\/consent\/[0-9a-f-]{36}$/);
  const decided = await decideInPortal({
    consentPortalUrl: pending!.extensions.consentPortalUrl,
    redirectUri: `${t.url('passport-app')}/consent/return`,
    nic: person.nic,
    password: person.password,
    decision: 'approve-all',
  });
  expect(decided.status).toBe('ACTIVE');
  return decided.consentId;
}

/** Revokes through the CE's API (as an operator); resolves when the CE's answer has been read, at that instant. */
async function revoke(consentId: string): Promise<number> {
  const response = await fetch(`${t.url('consent-engine')}/v1/consents/${consentId}/revoke`, {
    method: 'POST',
    headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' },
    body: '{}',
  });
  const body = (await response.json()) as { status?: string };
  const returned = performance.now();
  expect(response.status).toBe(200);
  expect(body.status).toBe('REVOKED');
  return returned;
}

/** Every audit record of the citizen, by reference (read once: the loops leave hundreds). */
async function auditRecordsOf(nic: string): Promise<Map<string, AuditRecord[]>> {
  const byReference = new Map<string, AuditRecord[]>();
  for await (const record of exportCitizenRecords(auditPool, nic)) {
    const key = record.reference ?? '';
    byReference.set(key, [...(byReference.get(key) ?? []), record]);
  }
  return byReference;
}

/** The one audit record of an answer (by the reference the OE answered with). */
function recordOf(audit: Map<string, AuditRecord[]>, answer: Answer): AuditRecord {
  expect(answer.reference).toMatch(/^[0-9a-f-]{36}$/);
  const found = audit.get(answer.reference!) ?? [];
  expect(found).toHaveLength(1);
  return found[0]!;
}

const errorCodes = (answer: Answer) =>
  Object.fromEntries((answer.errors ?? []).map((e) => [(e.path ?? []).join('.'), e.extensions.code]));

/** Released under the consent: every field present, no error; audited as released under `consentId`. */
async function expectReleasedUnder(nic: string, answer: Answer, consentId: string): Promise<void> {
  expectReleasedIn(await auditRecordsOf(nic), answer, consentId);
}

function expectReleasedIn(audit: Map<string, AuditRecord[]>, answer: Answer, consentId: string): void {
  expect(answer.status).toBe(200);
  expect(answer.errors).toBeUndefined();
  expect(answer.data!.personInfo!['name']).toEqual(expect.any(String));
  const record = recordOf(audit, answer);
  expect(record.fieldsWithheld).toEqual([]);
  expect(record.fieldsReleased.length).toBe(record.fieldsRequested.length);
  for (const field of record.fieldsReleased) expect(field.allowedBy).toEqual({ basis: 'consent', consentId });
}

/** Released nothing: every leaf null with CONSENT_REQUIRED; audited with nothing released, all withheld so. */
async function expectNothingReleased(nic: string, answer: Answer, consentId: string): Promise<void> {
  expectNothingReleasedIn(await auditRecordsOf(nic), answer, consentId);
}

function expectNothingReleasedIn(audit: Map<string, AuditRecord[]>, answer: Answer, consentId: string): void {
  expect(answer.status).toBe(200);
  expect(errorCodes(answer)).toEqual(Object.fromEntries(LEAF_PATHS.map((p) => [p, 'CONSENT_REQUIRED'])));
  const person = answer.data?.personInfo ?? null;
  if (person !== null) {
    const values = LEAF_PATHS.map((p) =>
      p
        .split('.')
        .slice(1)
        .reduce<unknown>((v, key) => (v as Record<string, unknown> | null)?.[key] ?? null, person),
    );
    expect(values.every((v) => v === null)).toBe(true);
  }
  const record = recordOf(audit, answer);
  expect(record.fieldsReleased).toEqual([]);
  expect(record.fieldsWithheld.map((f) => f.reason)).toEqual(
    record.fieldsRequested.map(() => 'CONSENT_REQUIRED'),
  );
  expect(record.fieldsRequested.length).toBeGreaterThan(0);
  expect(record.consentId).not.toBe(consentId);
}

/** A second OE, in-process, on the stack's FUDI, PDP, providers and audit log, asking the CE at `ceUrl`. */
async function startOe(ceUrl: string): Promise<string> {
  const env: Record<string, string | undefined> = {
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    DATABASE_URL: t.databaseUrl('ndx_audit'),
    FUDI_ISSUER: t.url('identity-provider'),
    PDP_URL: t.url('policy-decision-point'),
    CONSENT_ENGINE_URL: ceUrl,
    GATE_TIMEOUT_MS: String(HANG_MS * 3),
    PROVIDER_URL_RGD: t.url('rgd-api'),
    PROVIDER_URL_DRP: t.url('drp-api-adapter'),
    PROVIDER_URL_DMT: t.url('dmt-api-adapter'),
    OE_CLIENT_SECRET: t.secret('fudi.client.orchestration-engine'),
    RGD_CLIENT_SECRET: t.secret('rgd.client.ndx'),
    DRP_ADAPTER_API_KEY: t.secret('drp.adapter-api-key'),
  };
  const app = await buildApp(readConfig(env), testLogger('orchestration-engine'), env);
  cleanups.push(() => app.close());
  await app.listen({ port: 0, host: '127.0.0.1' });
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  t = await startTestStack({ only: ['orchestration-engine'] });
  passportToken = await t.clientToken('passport-app', 'urn:ndx:api');
  operatorToken = await t.clientToken('ndx-operator', 'urn:ndx:consent', 'admin');
  auditPool = new pg.Pool({ connectionString: t.databaseUrl('ndx_audit'), max: 2 });
  ce = await startFaultProvider({ upstream: t.url('consent-engine') });
}, 240_000);

afterAll(async () => {
  ce?.release();
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
  await ce?.stop();
  await auditPool?.end();
  await t?.stop();
});

describe('a revocation under concurrent load', () => {
  it('every query that starts after the revoke call returned releases nothing under that consent; queries before it released', async () => {
    const consentId = await consentTo(bwalya);
    const answers: Answer[] = [];
    let stopped = false;
    const load = queryLoad(bwalya.nic, answers, () => stopped);
    await answersUntil(answers, () => true, ANSWERS_BEFORE);
    const revokeStarted = performance.now();
    const revokedAt = await revoke(consentId);
    await answersUntil(answers, (a) => a.started > revokedAt, ANSWERS_AFTER);
    stopped = true;
    await load;

    const before = answers.filter((a) => a.finished < revokeStarted);
    const after = answers.filter((a) => a.started > revokedAt);
    expect(before.length).toBeGreaterThan(0);
    expect(after.length).toBeGreaterThan(0);
    const audit = await auditRecordsOf(bwalya.nic);
    for (const answer of before) expectReleasedIn(audit, answer, consentId);
    for (const answer of after) expectNothingReleasedIn(audit, answer, consentId);
  }, 300_000);

  it('a participant stalled at the CE does not hold the revocation up, and no query after it releases anything, through either OE', async () => {
    const consentId = await consentTo(esther);
    const stalledOe = await startOe(ce.url);
    // Through the proxy, healthy: the second OE releases under the consent.
    await expectReleasedUnder(esther.nic, await passportQuery(esther.nic, stalledOe), consentId);

    // One query through the second OE is held at the CE's door, mid-flight, before the revocation.
    ce.resetCounts();
    ce.setMode('held', { path: '/v1/consents/check' });
    let stalledSettled = false;
    const stalled = passportQuery(esther.nic, stalledOe).finally(() => (stalledSettled = true));
    await expect.poll(() => ce.requests('/v1/consents/check'), { timeout: HANG_MS }).toBe(1);

    const answers: Answer[] = [];
    let stopped = false;
    const load = queryLoad(esther.nic, answers, () => stopped);
    await answersUntil(answers, () => true, ANSWERS_BEFORE);
    const revokeStarted = performance.now();
    const revokedAt = await revoke(consentId);
    // The revocation returned while a participant still had a check in flight: it waits for no one.
    expect(stalledSettled).toBe(false);
    await answersUntil(answers, (a) => a.started > revokedAt, ANSWERS_AFTER);
    stopped = true;
    await load;

    // The held check reaches the CE only now, after the revocation: the stalled query releases nothing.
    ce.release();
    const held = await stalled;
    expect(held.finished).toBeGreaterThan(revokedAt);
    await expectNothingReleased(esther.nic, held, consentId);
    // Nor does a query through the second OE that starts after the revocation.
    await expectNothingReleased(esther.nic, await passportQuery(esther.nic, stalledOe), consentId);

    const before = answers.filter((a) => a.finished < revokeStarted);
    const after = answers.filter((a) => a.started > revokedAt);
    expect(before.length).toBeGreaterThan(0);
    expect(after.length).toBeGreaterThan(0);
    const audit = await auditRecordsOf(esther.nic);
    for (const answer of before) expectReleasedIn(audit, answer, consentId);
    for (const answer of after) expectNothingReleasedIn(audit, answer, consentId);
  }, 300_000);
});
