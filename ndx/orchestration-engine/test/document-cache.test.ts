/**
 * The OE's per-request caches: parsed and validated documents (the /graphql route's document store) and printed
 * sub-queries are bounded, and a document answered from the cache still goes through every check that depends on
 * the request's variables. The route is the real one on a real Fastify instance, with the real token verifier
 * (a key of the test's own), planner and pipeline; the PDP, CE and audit writer are in-test fakes that record
 * what they are asked and refuse (planning comes first, so most requests here never reach them).
 */
import { createSign, generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, type DocumentNode } from 'graphql';
import type { FastifyInstance } from 'fastify';
import type { AuditWriter } from '@ndx/audit';
import { createHttpService, createTokenVerifier } from '@ndx/service-kit';
import { testLogger } from '@ndx/service-kit/testing';
import { loadFlConfig } from '../src/fl-config.ts';
import type { ConsentClient, PolicyClient } from '../src/gate-clients.ts';
import { defaultDocumentCache, registerGraphQLRoute } from '../src/graphql-route.ts';
import { createOeMetrics } from '../src/oe-metrics.ts';
import { PlanCache } from '../src/plan-cache.ts';
import { createQueryPlanner, type QueryPlanner } from '../src/planner.ts';
import { loadUnifiedSchema } from '../src/schema.ts';
import { buildSubQuery, cachedSubQueries } from '../src/sub-query.ts';

const ISSUER = 'https://fudi.test';
const AUDIENCE = 'urn:ndx:api';
const { schema } = loadUnifiedSchema();
const flConfig = loadFlConfig(undefined, { env: {} });
const keys = generateKeyPairSync('rsa', { modulusLength: 2048 });

function accessToken(clientId: string): string {
  const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const signingInput = `${b64({ alg: 'RS256', typ: 'at+jwt' })}.${b64({
    iss: ISSUER,
    aud: AUDIENCE,
    sub: clientId,
    client_id: clientId,
    iat: now,
    exp: now + 600,
  })}`;
  const signature = createSign('RSA-SHA256').update(signingInput).sign(keys.privateKey).toString('base64url');
  return `${signingInput}.${signature}`;
}

/** What the fakes were asked. */
const asked: string[] = [];
const refusing = <T extends object>(name: string): T =>
  new Proxy({} as T, {
    get: (_target, method) => () => {
      asked.push(`${name}.${String(method)}`);
      throw new Error(`${name} is down in this test`);
    },
  });

let app: FastifyInstance;
let documents: PlanCache<DocumentNode>;
let planner: QueryPlanner;
const token = accessToken('passport-app');

beforeAll(async () => {
  const logger = testLogger('orchestration-engine');
  app = createHttpService({ name: 'orchestration-engine', logger });
  documents = new PlanCache<DocumentNode>(2);
  planner = createQueryPlanner({ schema, argMappings: flConfig.argMappings });
  await registerGraphQLRoute(app, {
    schema,
    flConfig,
    // The registry as the PDP would answer for the passport app (its default purpose).
    consumerRegistry: {
      lookup: async (consumerId) => ({
        consumerId,
        displayName: 'DIE passport application',
        member: 'die',
        purposes: ['passport-application'],
        defaultPurpose: 'passport-application',
        policyVersion: 1,
      }),
      clear: () => undefined,
    },
    documentCache: documents,
    verifier: createTokenVerifier({
      issuer: ISSUER,
      audience: AUDIENCE,
      typ: 'at+jwt',
      keySet: async () => keys.publicKey,
    }),
    pipeline: {
      planner,
      policy: refusing<PolicyClient>('policy'),
      consent: refusing<ConsentClient>('consent'),
      dataSubjects: flConfig.dataSubjects,
      providers: new Map(),
      audit: refusing<AuditWriter>('audit'),
      metrics: createOeMetrics(app.metrics.registry),
      logger,
    },
    introspection: false,
    serverTiming: false,
  });
  await app.ready();
});
afterAll(async () => {
  await app?.close();
});

async function query(
  text: string,
  variables: Record<string, unknown>,
): Promise<{ status: number; codes: unknown[]; messages: string[] }> {
  const response = await app.inject({
    method: 'POST',
    url: '/graphql',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    payload: { query: text, variables },
  });
  const body = response.json<{ errors?: { message: string; extensions?: { code?: unknown } }[] }>();
  return {
    status: response.statusCode,
    codes: (body.errors ?? []).map((e) => e.extensions?.code),
    messages: (body.errors ?? []).map((e) => e.message),
  };
}

const PASSPORT = 'query Passport($nic: ID!) { personInfo(nic: $nic) { name sex } }';

describe('the OE’s document cache', () => {
  it('answers a repeated query text from the cache and still coerces each request’s variables', async () => {
    const hitsBefore = documents.hits;
    const missing = await query(PASSPORT, {});
    expect(missing.status).toBe(200); // a request error in application/json (GraphQL over HTTP, legacy watershed)
    expect(missing.codes).toEqual(['BAD_USER_INPUT']);
    expect(missing.messages[0]).toMatch(/Variable "\$nic" of required type "ID!" was not provided/);
    expect(documents.size).toBe(1);

    const wrongType = await query(PASSPORT, { nic: { not: 'an id' } });
    expect(wrongType.status).toBe(200);
    expect(wrongType.codes).toEqual(['BAD_USER_INPUT']);
    expect(wrongType.messages[0]).toMatch(/ID cannot represent value/);
    expect(documents.hits - hitsBefore).toBe(1);
    expect(documents.size).toBe(1);
    expect(asked).toEqual([]);
  });

  it('plans a cached document anew for each @skip/@include value, and gates each (fail closed here)', async () => {
    const text = 'query Q($nic: ID!, $s: Boolean!) { personInfo(nic: $nic) { name sex @skip(if: $s) } }';
    const plansBefore = planner.cachedPlans();
    const skipped = await query(text, { nic: '199012345678', s: true });
    const kept = await query(text, { nic: '199012345678', s: false });
    const again = await query(text, { nic: '199012345678', s: false });
    for (const answer of [skipped, kept, again]) {
      expect(answer.status).toBe(503);
      expect(answer.codes).toEqual(['POLICY_UNAVAILABLE']);
    }
    expect(planner.cachedPlans() - plansBefore).toBe(2);
    expect(asked.filter((a) => a.startsWith('policy.'))).toHaveLength(3);
  });

  it('keeps at most its bound of documents, the least recently used dropped', async () => {
    const texts = ['name', 'sex', 'dateOfBirth'].map(
      (field) => `query Only($nic: ID!) { personInfo(nic: $nic) { ${field} } }`,
    );
    for (const text of texts) expect((await query(text, {})).codes).toEqual(['BAD_USER_INPUT']);
    expect(documents.size).toBe(2);
    const hitsBefore = documents.hits;
    await query(texts[2]!, {});
    expect(documents.hits - hitsBefore).toBe(1);
    await query(texts[0]!, {}); // dropped: parsed and validated again
    expect(documents.hits - hitsBefore).toBe(1);
    expect(documents.size).toBe(2);
  });
});

describe('the default caches’ size bound', () => {
  it('drops documents by the total length of their text, so large queries cannot fill the heap', () => {
    const cache = defaultDocumentCache();
    const big = (i: number) =>
      parse(`query Big${i}($nic: ID!) { personInfo(nic: $nic) { name ${' '.repeat(60_000)} } }`);
    for (let i = 0; i < 10; i++) cache.set(`big${i}`, big(i));
    expect(cache.weight).toBeLessThanOrEqual(256 * 1024);
    expect(cache.size).toBe(4);
    expect(cache.get('big9')?.definitions).toHaveLength(1);
    expect(cache.get('big5')).toBe(undefined);
    // Small documents: up to the entry bound.
    const small = defaultDocumentCache();
    for (let i = 0; i < 600; i++) small.set(`q${i}`, parse(`{ personInfo(nic: "${i}") { name } }`));
    expect(small.size).toBe(500);
  });

  it('drops plans by the total length of their operation text', () => {
    const own = createQueryPlanner({ schema, argMappings: flConfig.argMappings, cacheMaxText: 1_000 });
    for (let i = 0; i < 10; i++) {
      const source = `query P${i}($nic: ID!) { personInfo(nic: $nic) { name } }${' '.repeat(200)}`;
      own.plan({ document: parse(source), source, variables: { nic: '199012345678' } });
    }
    expect(own.cachedPlans()).toBe(3);
  });
});

describe('printed sub-queries', () => {
  it('prints each released subset of a provider’s leaves once per plan template, bounded', () => {
    const own = createQueryPlanner({ schema, argMappings: flConfig.argMappings });
    const source =
      'query($nic: ID!) { personInfo(nic: $nic) { name sex dateOfBirth birthInfo { birthRegistrationNumber birthPlace district } } }';
    const plan = (nic: string) => own.plan({ document: parse(source), source, variables: { nic } });
    const first = plan('199012345678');
    const leaves = first.providers.find((p) => p.providerKey === 'rgd')!.leafIds;
    expect(leaves.length).toBe(6);

    const withoutFirst = buildSubQuery(first, 'rgd', (leaf) => leaf.id !== leaves[0]);
    const second = plan('987654321X');
    const again = buildSubQuery(second, 'rgd', (leaf) => leaf.id !== leaves[0]);
    expect(again!.query).toBe(withoutFirst!.query);
    expect(again!.query).not.toContain('fullName');
    expect(again!.variables).toEqual({ personInfo_nic: '987654321X' });
    expect(cachedSubQueries(second, 'rgd')).toBe(1);

    // All released: the template's own sub-query, nothing more cached.
    expect(buildSubQuery(second, 'rgd')!.query).toBe(
      second.providers.find((p) => p.providerKey === 'rgd')!.query,
    );
    expect(cachedSubQueries(second, 'rgd')).toBe(1);

    // Every non-empty proper subset of six leaves: far more than the bound.
    for (let mask = 1; mask < 63; mask++) {
      const subset = buildSubQuery(second, 'rgd', (leaf) => (mask & (1 << leaves.indexOf(leaf.id))) !== 0);
      expect(
        subset!.query.match(/\b(fullName|sex|dateOfBirth|birthRegistrationNumber|birthPlace|district)\b/g),
      ).toHaveLength(mask.toString(2).replace(/0/g, '').length);
    }
    expect(cachedSubQueries(second, 'rgd')).toBe(16);
  });
});
