/**
 * The OE's own per-consumer rate limit (fl-config.json `rateLimits`), on the real stack: an OE in-process whose
 * fl-config gives every consumer a bucket of 3 requests refilled at one every 10 s. A burst over the limit gets
 * 429 RATE_LIMITED with Retry-After, and the requests refused make no call to the PDP, the CE or any provider
 * (their own request counters say so); another consumer is served meanwhile; after Retry-After the consumer is
 * served again.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testLogger } from '@ndx/service-kit/testing';
import { demoCitizens } from '@ndx/synthetic-data';
import { buildApp } from '@ndx/orchestration-engine';
import { readConfig } from '@ndx/orchestration-engine/config';
import { approvePassportQuery } from './support/consent-portal.ts';
import { downstreamCalls } from './support/downstream-calls.ts';
import { repoRoot, startTestStack, type TestStack } from './support/test-stack.ts';
import { runsOneAtATime } from './support/one-at-a-time.ts';

const amara = demoCitizens.find((c) => c.nic === '199560201234')!;
const PASSPORT_QUERY = `query Passport($nic: ID!) { personInfo(nic: $nic) { fullName name sex } }`;
/** Every consumer's bucket in this test: 3 at once, then one every 10 s (slow, so that no refill lands mid-burst). */
const LIMIT = { requestsPerSecond: 0.1, burst: 3 };

interface Answer {
  status: number;
  retryAfter: string | null;
  body: {
    data?: { personInfo?: Record<string, unknown> | null } | null;
    errors?: { message: string; extensions?: { code?: string; retryAfterSeconds?: number } }[];
  };
}

let t: TestStack;
// Alone among the timing-sensitive files (the packages' tests run beside it).
runsOneAtATime();
let passportToken: string;
let policeToken: string;
let oeUrl: string;
let workDir: string;
const cleanups: (() => Promise<unknown>)[] = [];

async function query(token: string, nic = amara.nic): Promise<Answer> {
  const response = await fetch(`${oeUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: PASSPORT_QUERY, variables: { nic } }),
  });
  return {
    status: response.status,
    retryAfter: response.headers.get('retry-after'),
    body: (await response.json()) as Answer['body'],
  };
}

async function rateLimitedCount(consumer: string): Promise<number> {
  const text = await (await fetch(`${oeUrl}/metrics`)).text();
  const sample = new RegExp(
    `^ndx_rate_limited_total\\{[^}]*consumer="${consumer}"[^}]*\\} (\\S+)$`,
    'm',
  ).exec(text);
  return Number(sample?.[1] ?? 0);
}

function expectRateLimited(answer: Answer): number {
  expect(answer.status).toBe(429);
  const seconds = Number(answer.retryAfter);
  expect(Number.isInteger(seconds) && seconds >= 1 && seconds <= 10).toBe(true);
  expect(answer.body).toEqual({
    errors: [
      {
        message: `consumer passport-app sent more requests than its rate limit allows; try again in ${seconds} s`,
        extensions: { code: 'RATE_LIMITED', retryAfterSeconds: seconds },
      },
    ],
  });
  return seconds;
}

beforeAll(async () => {
  t = await startTestStack({ only: ['orchestration-engine'] });
  passportToken = await t.clientToken('passport-app', 'urn:ndx:api');
  policeToken = await t.clientToken('traffic-police-app', 'urn:ndx:api');
  // amara consents through the stack's OE (not rate limited), so the limited OE's served queries reach providers.
  const decided = await approvePassportQuery({
    oeUrl: t.url('orchestration-engine'),
    passportAppUrl: t.url('passport-app'),
    token: passportToken,
    query: PASSPORT_QUERY,
    citizen: amara,
  });
  expect(decided.status).toBe('ACTIVE');

  // How tests override fl-config: a copy with the section changed (schema files made absolute), FL_CONFIG_PATH.
  workDir = await mkdtemp(join(tmpdir(), 'ndx-rate-limit-'));
  const flConfig = JSON.parse(await readFile(join(repoRoot, 'fl-config.json'), 'utf8')) as {
    providers: { schemaFile?: string }[];
    rateLimits: unknown;
  };
  for (const provider of flConfig.providers) {
    if (provider.schemaFile) provider.schemaFile = join(repoRoot, provider.schemaFile);
  }
  flConfig.rateLimits = { default: LIMIT, consumers: {} };
  const flConfigPath = join(workDir, 'fl-config.json');
  await writeFile(flConfigPath, JSON.stringify(flConfig));

  const env: Record<string, string | undefined> = {
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    DATABASE_URL: t.databaseUrl('ndx_audit'),
    FL_CONFIG_PATH: flConfigPath,
    FUDI_ISSUER: t.url('identity-provider'),
    PDP_URL: t.url('policy-decision-point'),
    CONSENT_ENGINE_URL: t.url('consent-engine'),
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
  oeUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}, 240_000);

afterAll(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
  if (workDir) await rm(workDir, { recursive: true, force: true });
  await t?.stop();
});

describe('the OE’s per-consumer rate limit', () => {
  it('serves a burst up to the limit, answers the rest 429 with Retry-After before any call, serves another consumer meanwhile, and serves the first again after Retry-After', async () => {
    // A burst of 8 at once: 3 are served (they ask the CE and the providers), 5 are refused.
    const before = await downstreamCalls(t);
    const burst = await Promise.all(Array.from({ length: 8 }, () => query(passportToken)));
    const served = burst.filter((a) => a.status === 200);
    expect(served).toHaveLength(3);
    for (const answer of served) expect(answer.body.data?.personInfo?.['name']).toBe(amara.birthName);
    burst.filter((a) => a.status !== 200).forEach(expectRateLimited);
    const afterBurst = await downstreamCalls(t);
    // The served queries' consent checks (concurrent ones travel in one CE call), none for the refused.
    expect(afterBurst.ce - before.ce).toBeGreaterThanOrEqual(1);
    expect(afterBurst.ce - before.ce).toBeLessThanOrEqual(3);
    expect(afterBurst.providers).toBeGreaterThan(before.providers);

    // More while limited: all refused, and nothing at all is asked of the PDP, the CE or a provider.
    const refused = [];
    for (let i = 0; i < 5; i++) refused.push(await query(passportToken));
    const retryAfter = Math.max(...refused.map(expectRateLimited));
    expect(await downstreamCalls(t)).toEqual(afterBurst);
    expect(await rateLimitedCount('passport-app')).toBe(10);

    // The limit is taken after authentication, per consumer: no token is still 401, another consumer is served.
    const anonymous = await fetch(`${oeUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: PASSPORT_QUERY, variables: { nic: amara.nic } }),
    });
    expect(anonymous.status).toBe(401);
    const police = await query(policeToken);
    expect(police.status).toBe(200);
    expect(police.body.errors?.map((e) => e.extensions?.code)).toContain('FORBIDDEN');
    expect(await rateLimitedCount('traffic-police-app')).toBe(0);

    // After Retry-After, the consumer is served again (once: the bucket refills one request at a time).
    await new Promise((resolve) => setTimeout(resolve, retryAfter * 1000));
    const again = await query(passportToken);
    expect(again.status).toBe(200);
    expect(again.body.data?.personInfo?.['name']).toBe(amara.birthName);
    expectRateLimited(await query(passportToken));
  }, 60_000);
});
