import { randomBytes } from 'node:crypto';
import { SignJWT, generateKeyPair } from 'jose';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyChain } from '@ndx/audit';
import { demoCitizens } from '@ndx/synthetic-data';
import { CookieJar } from '@ndx/identity-provider/testing-browser';
import { decideInPortal } from './support/consent-portal.ts';
import { metricSum } from './support/downstream-calls.ts';
import { startTestStack, type TestStack } from './support/test-stack.ts';
import { asSuperuserWithoutTrigger } from '@ndx/audit/testing';

type Citizen = (typeof demoCitizens)[number];
const citizen = (nic: string): Citizen => demoCitizens.find((c) => c.nic === nic)!;
const amara = citizen('199560201234');
const bwalya = citizen('852321234V');
const daliso = citizen('783345678V');
const esther = citizen('199066604567');
const faith = citizen('200360207777');

const PASSPORT_QUERY = `query Passport($nic: ID!) {
  personInfo(nic: $nic) {
    fullName name otherNames address profession dateOfBirth sex
    birthInfo { birthRegistrationNumber birthPlace district }
  }
}`;

interface GraphQLError {
  message: string;
  path?: (string | number)[];
  extensions: { code: string; consentId?: string; consentPortalUrl?: string; [k: string]: unknown };
}
interface GraphQLAnswer {
  status: number;
  data?: { personInfo?: Record<string, unknown> | null; [k: string]: unknown } | null;
  errors?: GraphQLError[];
}

let t: TestStack;
let passportToken: string;
let redirectUri: string;

async function graphql(
  body: unknown,
  token: string | null = passportToken,
  headers: Record<string, string> = {},
) {
  const response = await fetch(`${t.url('orchestration-engine')}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const answer = (await response.json()) as Omit<GraphQLAnswer, 'status'>;
  return { status: response.status, ...answer } as GraphQLAnswer;
}

const passportQuery = (nic: string) => graphql({ query: PASSPORT_QUERY, variables: { nic } });
const codesByPath = (answer: GraphQLAnswer) =>
  Object.fromEntries((answer.errors ?? []).map((e) => [(e.path ?? []).join('.'), e.extensions.code]));

/** Every POST the three providers (RGD, the DRP adapter, the DMT adapter) have answered, by their own count. */
async function providerRequests(): Promise<number> {
  const counts = await Promise.all(
    (['rgd-api', 'drp-api-adapter', 'dmt-api-adapter'] as const).map((name) =>
      metricSum(t.url(name), 'http_requests_total', { method: 'POST' }),
    ),
  );
  return counts.reduce((a, b) => a + b, 0);
}

/** A query run against the consent database with the admin account. */
async function consentDb<T extends pg.QueryResultRow>(sql: string, values: unknown[]): Promise<T[]> {
  const client = new pg.Client({
    connectionString: t.stack.postgresAdminUrl.replace(/\/postgres$/, '/ndx_consent'),
  });
  await client.connect();
  try {
    return (await client.query<T>(sql, values)).rows;
  } finally {
    await client.end();
  }
}

async function approveAll(person: Citizen): Promise<void> {
  const first = await passportQuery(person.nic);
  const pending = first.errors?.find((e) => e.extensions.code === 'CONSENT_REQUIRED');
  if (!pending) return;
  const result = await decideInPortal({
    consentPortalUrl: pending.extensions.consentPortalUrl!,
    redirectUri,
    nic: person.nic,
    password: person.password,
    decision: 'approve-all',
  });
  expect(result.status).toBe('ACTIVE');
}

beforeAll(async () => {
  t = await startTestStack({ only: ['orchestration-engine'], ownPostgres: true });
  passportToken = await t.clientToken('passport-app', 'urn:ndx:api');
  redirectUri = `${t.url('passport-app')}/consent/return`;
}, 240_000);

afterAll(async () => {
  await t?.stop();
});

describe('the passport query through NDX', () => {
  it('without consent: every personal field is CONSENT_REQUIRED with a portal URL that leads to FUDI sign-in', async () => {
    const answer = await passportQuery(bwalya.nic);
    expect(answer.status).toBe(200);
    expect(answer.data?.personInfo).toMatchObject({ fullName: null, name: null, dateOfBirth: null });
    const consentErrors = answer.errors!.filter((e) => e.extensions.code === 'CONSENT_REQUIRED');
    expect(consentErrors.map((e) => e.path!.join('.')).sort()).toEqual(
      [
        'personInfo.address',
        'personInfo.birthInfo.birthPlace',
        'personInfo.birthInfo.birthRegistrationNumber',
        'personInfo.birthInfo.district',
        'personInfo.dateOfBirth',
        'personInfo.fullName',
        'personInfo.name',
        'personInfo.otherNames',
        'personInfo.profession',
        'personInfo.sex',
      ].sort(),
    );
    const { consentId, consentPortalUrl } = consentErrors[0]!.extensions;
    expect(consentPortalUrl).toBe(`${t.url('consent-engine')}/consent/${consentId}`);
    expect(new Set(consentErrors.map((e) => e.extensions.consentId))).toEqual(new Set([consentId]));

    // Follow the portal URL as a browser would, to FUDI's sign-in page.
    const jar = new CookieJar();
    const hops: { url: string; status: number }[] = [];
    let current = consentPortalUrl!;
    let landing: Response | undefined;
    for (let hop = 0; hop < 10 && !landing; hop++) {
      const response = await fetch(current, { redirect: 'manual', headers: { cookie: jar.header() } });
      jar.store(response);
      hops.push({ url: current, status: response.status });
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location) {
        await response.body?.cancel();
        current = new URL(location, current).href;
      } else landing = response;
    }
    expect(hops[0]!.status).toBeGreaterThanOrEqual(300);
    expect(hops[0]!.status).toBeLessThan(400);
    const fudi = t.url('identity-provider');
    const { authorization_endpoint } = (await (
      await fetch(`${fudi}/.well-known/openid-configuration`)
    ).json()) as { authorization_endpoint: string };
    const authorize = hops.map((h) => new URL(h.url)).find((u) => u.href.startsWith(authorization_endpoint));
    expect(authorize, hops.map((h) => h.url).join(' -> ')).toBeInstanceOf(URL);
    expect(authorize!.origin).toBe(fudi);
    expect(Object.fromEntries(authorize!.searchParams)).toMatchObject({
      response_type: 'code',
      code_challenge: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      code_challenge_method: 'S256',
      redirect_uri: expect.stringMatching(new RegExp(`^${t.url('consent-engine')}/`)),
      state: expect.stringMatching(/.{16,}/),
    });
    expect(landing!.status).toBe(200);
    expect(new URL(hops.at(-1)!.url).origin).toBe(fudi);
    const signIn = await landing!.text();
    expect(signIn).toContain('<h1>Sign in</h1>');
    expect(signIn).toMatch(/<form method="post" action="\/interaction\/[^"]+\/login"/);
    expect(signIn).toMatch(/<input id="nic" name="nic"/);
    expect(signIn).toMatch(/<input id="password" name="password" type="password"/);

    const operator = await t.clientToken('ndx-operator', 'urn:ndx:consent', 'admin');
    const record = await fetch(`${t.url('consent-engine')}/v1/consents/${consentId}`, {
      headers: { authorization: `Bearer ${operator}` },
    });
    const shown = ((await record.json()) as { fields: { field: string; displayName: string }[] }).fields;
    expect(shown.find((f) => f.field === 'getPersonInfo.fullName')?.displayName).toBe('Name at birth');
    expect(shown.find((f) => f.field === 'person.fullName')?.displayName).toBe('Full name');

    const again = await passportQuery(bwalya.nic);
    expect(again.errors!.find((e) => e.extensions.code === 'CONSENT_REQUIRED')!.extensions.consentId).toBe(
      consentId,
    );
  });

  it('after the citizen approves in the portal, the same query returns the merged RGD and DRP record', async () => {
    await approveAll(bwalya);
    const answer = await passportQuery(bwalya.nic);
    expect(answer.status).toBe(200);
    expect(answer.errors).toBeUndefined();
    expect(answer.data!.personInfo).toMatchObject({
      name: bwalya.birthName,
      fullName: bwalya.drpFullName,
      dateOfBirth: bwalya.dateOfBirth,
      sex: bwalya.sex,
    });
    const person = answer.data!.personInfo as Record<string, unknown>;
    expect(person['address']).toEqual(expect.any(String));
    expect((person['birthInfo'] as Record<string, unknown>)['birthRegistrationNumber']).toEqual(
      expect.any(String),
    );
  });

  it('a field the consumer was never granted is FORBIDDEN while the other fields are returned', async () => {
    const answer = await graphql({
      query: 'query($nic: ID!) { personInfo(nic: $nic) { name ownedVehicles { regNo make } } }',
      variables: { nic: bwalya.nic },
    });
    expect(answer.status).toBe(200);
    expect(answer.data!.personInfo).toEqual({ name: bwalya.birthName, ownedVehicles: null });
    expect(codesByPath(answer)).toEqual({ 'personInfo.ownedVehicles': 'FORBIDDEN' });
  });

  it('approving a subset releases only those fields, and the rest stay CONSENT_REQUIRED', async () => {
    const first = await passportQuery(esther.nic);
    const pending = first.errors!.find((e) => e.extensions.code === 'CONSENT_REQUIRED')!;
    const decided = await decideInPortal({
      consentPortalUrl: pending.extensions.consentPortalUrl!,
      redirectUri,
      nic: esther.nic,
      password: esther.password,
      decision: { approve: ['rgd/abc-212/getPersonInfo.fullName', 'rgd/abc-212/getPersonInfo.dateOfBirth'] },
    });
    expect(decided.status).toBe('ACTIVE');
    const answer = await passportQuery(esther.nic);
    expect(answer.data!.personInfo).toMatchObject({
      name: esther.birthName,
      dateOfBirth: esther.dateOfBirth,
      fullName: null,
    });
    const codes = codesByPath(answer);
    expect(codes['personInfo.fullName']).toBe('CONSENT_REQUIRED');
    expect(codes['personInfo.name']).toBeUndefined();
    const newRequest = answer.errors!.find((e) => e.extensions.code === 'CONSENT_REQUIRED')!.extensions
      .consentId;
    expect(newRequest).not.toBe(decided.consentId);
  });

  it('a citizen missing from one registry gets that registry’s fields as null and the others filled', async () => {
    await approveAll(faith);
    const answer = await passportQuery(faith.nic);
    expect(answer.status).toBe(200);
    expect(answer.data!.personInfo).toMatchObject({ name: faith.birthName, fullName: null, address: null });
    expect(answer.errors).toBeUndefined();
  });

  it('a revoked consent stops the very next query', async () => {
    const before = await passportQuery(bwalya.nic);
    expect(before.errors).toBeUndefined();
    const operator = await t.clientToken('ndx-operator', 'urn:ndx:consent', 'admin');
    const check = await fetch(`${t.url('consent-engine')}/v1/consents/check`, {
      method: 'POST',
      headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        citizenId: bwalya.nic,
        consumerId: 'passport-app',
        purpose: 'passport-application',
        fields: [{ providerKey: 'rgd', schemaId: 'abc-212', field: 'getPersonInfo.fullName' }],
      }),
    });
    const { consentId } = (await check.json()) as { consentId: string };
    const revoke = await fetch(`${t.url('consent-engine')}/v1/consents/${consentId}/revoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${operator}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(revoke.status).toBe(200);
    const after = await passportQuery(bwalya.nic);
    expect(codesByPath(after)['personInfo.name']).toBe('CONSENT_REQUIRED');
  });
});

describe('callers and input NDX refuses', () => {
  it('no token, a forged token, a token for another audience: 401 UNAUTHENTICATED', async () => {
    const query = { query: '{ personInfo(nic: "199560201234") { name } }' };
    const missing = await graphql(query, null);
    expect(missing.status).toBe(401);
    expect(missing.errors![0]!.extensions.code).toBe('UNAUTHENTICATED');

    const { privateKey } = await generateKeyPair('RS256');
    const forged = await new SignJWT({ client_id: 'passport-app' })
      .setProtectedHeader({ alg: 'RS256', kid: 'forged' })
      .setIssuer(t.url('identity-provider'))
      .setAudience('urn:ndx:api')
      .setExpirationTime('5m')
      .sign(privateKey);
    expect((await graphql(query, forged)).status).toBe(401);

    const forPdp = await t.clientToken('orchestration-engine', 'urn:ndx:pdp');
    expect((await graphql(query, forPdp)).status).toBe(401);
    expect((await graphql(query, 'not.a.jwt')).status).toBe(401);
  });

  // GraphQL over HTTP (legacy watershed): this file's requests accept */*, so answers are application/json, in
  // which a GraphQL request error (parse, validation, operation, input) is 200 with `errors` and no `data`; it was
  // 400 before, which the spec says a server SHOULD NOT do (application/graphql-response+json keeps the 400:
  // tests/graphql-http-conformance.test.ts). Batches and bodies that are not JSON are not well-formed GraphQL
  // requests, and stay 400.
  it('malformed GraphQL, unknown fields and mutations are request errors, batches 400, before any provider is called', async () => {
    await approveAll(amara);
    const before = await providerRequests();
    const parse = await graphql({ query: '{ personInfo(nic: "199560201234") { name ' });
    expect(parse.status).toBe(200);
    expect(parse.data).toBeUndefined();
    expect(parse.errors![0]!.extensions.code).toBe('GRAPHQL_PARSE_FAILED');

    const unknown = await graphql({ query: '{ personInfo(nic: "199560201234") { salary } }' });
    expect(unknown.status).toBe(200);
    expect(unknown.errors![0]!.extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');

    const mutation = await graphql({ query: 'mutation { deleteEverything }' });
    expect(mutation.status).toBe(200);
    expect(mutation.errors![0]!.extensions.code).toBe('OPERATION_NOT_SUPPORTED');

    const batch = await graphql([
      { query: '{ personInfo(nic: "199560201234") { name } }' },
      { query: '{ personInfo(nic: "199560201234") { name } }' },
    ]);
    expect(batch.status).toBe(400);

    const notJson = await graphql('{"query": ');
    expect(notJson.status).toBe(400);
    expect(notJson.errors![0]!.extensions.code).toBe('BAD_REQUEST');

    expect(await providerRequests()).toBe(before);
    // The providers' counters do see a query that is valid (amara has consented): the check above can fail.
    const valid = await graphql({ query: '{ personInfo(nic: "199560201234") { name } }' });
    expect(valid.data?.personInfo).toEqual({ name: amara.birthName });
    expect(await providerRequests()).toBeGreaterThan(before);
  });

  it('an invalid NIC is BAD_USER_INPUT (a request error: 200 in application/json)', async () => {
    const answer = await passportQuery('12345');
    expect(answer.status).toBe(200);
    expect(answer.data).toBeUndefined();
    expect(answer.errors![0]!.extensions.code).toBe('BAD_USER_INPUT');
  });

  it('too deep, too many aliases and too large are refused', async () => {
    const deep = await graphql({
      query:
        '{ __schema { types { fields { type { ofType { ofType { ofType { ofType { ofType { name } } } } } } } } } }',
    });
    expect(deep.status).toBe(200); // request errors: 200 in application/json (see above)
    expect(JSON.stringify(deep.errors)).toMatch(/depth/i);

    const aliases = Array.from(
      { length: 20 },
      (_, i) => `a${i}: personInfo(nic: "199560201234") { name }`,
    ).join(' ');
    const many = await graphql({ query: `{ ${aliases} }` });
    expect(many.status).toBe(200);
    expect(JSON.stringify(many.errors)).toMatch(/alias/i);

    const tokens = await graphql({ query: `{ ${'__typename '.repeat(1_200)}}` });
    expect(tokens.status).toBe(200);
    expect(tokens.errors![0]!.message).toMatch(/tokens/);

    const huge = await graphql({
      query: `{ personInfo(nic: "199560201234") { name } } # ${'x'.repeat(70_000)}`,
    });
    expect(huge.status).toBe(413);
    expect(huge.errors![0]!.extensions.code).toBe('PAYLOAD_TOO_LARGE');
  });

  it('a consumer with no grant for personal data gets FORBIDDEN on every field, and no consent request', async () => {
    const consentsOf = async (nic: string) =>
      (
        await consentDb<{ n: number }>('SELECT count(*)::int AS n FROM consents WHERE citizen_id = $1', [nic])
      )[0]!.n;
    const consentEngine = t.url('consent-engine');
    const ceCalls = () =>
      Promise.all([
        metricSum(consentEngine, 'http_requests_total', { method: 'POST', route: '/v1/consents' }),
        metricSum(consentEngine, 'http_requests_total', { method: 'POST', route: '/v1/consents/check' }),
        metricSum(consentEngine, 'http_requests_total', { method: 'POST', route: '/v1/consents/checks' }),
      ]);
    const consentsBefore = await consentsOf(daliso.nic);
    const ceBefore = await ceCalls();

    const police = await t.clientToken('traffic-police-app', 'urn:ndx:api');
    const answer = await graphql({ query: PASSPORT_QUERY, variables: { nic: daliso.nic } }, police);
    expect(answer.status).toBe(200);
    expect(codesByPath(answer)).toEqual({
      'personInfo.fullName': 'FORBIDDEN',
      'personInfo.name': 'FORBIDDEN',
      'personInfo.otherNames': 'FORBIDDEN',
      'personInfo.address': 'FORBIDDEN',
      'personInfo.profession': 'FORBIDDEN',
      'personInfo.dateOfBirth': 'FORBIDDEN',
      'personInfo.sex': 'FORBIDDEN',
      'personInfo.birthInfo.birthRegistrationNumber': 'FORBIDDEN',
      'personInfo.birthInfo.birthPlace': 'FORBIDDEN',
      'personInfo.birthInfo.district': 'FORBIDDEN',
    });
    expect(answer.errors!.every((e) => e.extensions.consentId === undefined)).toBe(true);
    expect(await consentsOf(daliso.nic)).toBe(consentsBefore);
    expect(await ceCalls()).toEqual(ceBefore);
  });
});

describe('a database restart', () => {
  it('refuses cleanly while PostgreSQL is down, answers again once it is back, and loses no audit record', async () => {
    await approveAll(amara);
    const small = {
      query: 'query($nic: ID!) { personInfo(nic: $nic) { name } }',
      variables: { nic: amara.nic },
    };
    const auditUrl = t.stack.postgresAdminUrl.replace(/\/postgres$/, '/ndx_audit');
    const successesFor = async (nic: string) => {
      const admin = new pg.Client({ connectionString: auditUrl });
      await admin.connect();
      try {
        return (
          await admin.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM audit_log WHERE citizen_id = $1 AND outcome = 'SUCCESS'`,
            [nic],
          )
        ).rows[0]!.n;
      } finally {
        await admin.end();
      }
    };
    // Each query carries its own trace id, which the OE keeps in the query's audit record.
    const answeredTraces: string[] = [];
    const refusedTraces: string[] = [];
    const tracedQuery = async () => {
      const traceId = randomBytes(16).toString('hex');
      const answer = await graphql(small, passportToken, {
        traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01`,
      });
      (answer.status === 200 ? answeredTraces : refusedTraces).push(traceId);
      return answer;
    };
    const successesBefore = await successesFor(amara.nic);

    let ranWhileDown = false;
    await t.stack.restartPostgres(async () => {
      await expect(
        new pg.Client({
          connectionString: t.stack.postgresAdminUrl,
          connectionTimeoutMillis: 5_000,
        }).connect(),
      ).rejects.toThrow();
      const down = await tracedQuery();
      expect(down.status).toBe(503);
      expect(down.data ?? null).toBeNull();
      expect(down.errors![0]!.extensions.code).toMatch(/UNAVAILABLE/);
      expect(JSON.stringify(down)).not.toContain(amara.birthName);
      ranWhileDown = true;
    });
    expect(ranWhileDown).toBe(true);
    expect(answeredTraces).toEqual([]);

    await expect
      .poll(
        async () => {
          const answer = await tracedQuery();
          return answer.status === 200 ? answer.data?.personInfo : answer.status;
        },
        { timeout: 30_000, interval: 500 },
      )
      .toEqual({ name: amara.birthName });
    for (let i = 0; i < 5; i++) {
      const answer = await tracedQuery();
      expect(answer.status).toBe(200);
      expect(answer.data?.personInfo).toEqual({ name: amara.birthName });
    }

    // Every answer that released data has exactly one SUCCESS record, under its own trace id.
    const admin = new pg.Pool({ connectionString: auditUrl });
    try {
      const { rows } = await admin.query<{ trace_id: string; outcome: string; citizen_id: string }>(
        'SELECT trace_id, outcome, citizen_id FROM audit_log WHERE trace_id = ANY($1)',
        [answeredTraces],
      );
      expect(answeredTraces.length).toBeGreaterThanOrEqual(6);
      expect(rows.map((r) => r.trace_id).sort()).toEqual([...answeredTraces].sort());
      expect(new Set(rows.map((r) => `${r.outcome} ${r.citizen_id}`))).toEqual(
        new Set([`SUCCESS ${amara.nic}`]),
      );
      // And no other SUCCESS record of amara appeared: the count grew by the 200 answers exactly. A refusal is
      // recorded (as ERROR) only on a best-effort basis; a refused query whose append timed out but whose
      // batch still committed later is the one way a refusal leaves a SUCCESS record, so those are added.
      const lateSuccesses = (
        await admin.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM audit_log WHERE trace_id = ANY($1) AND outcome = 'SUCCESS'`,
          [refusedTraces],
        )
      ).rows[0]!.n;
      expect(await successesFor(amara.nic)).toBe(successesBefore + answeredTraces.length + lateSuccesses);
      expect((await verifyChain(admin)).ok).toBe(true);
    } finally {
      await admin.end();
    }
  }, 120_000);
});

describe('the audit trail', () => {
  it('holds an intact hash chain after 1,000 queries, and finds a tampered record', async () => {
    await approveAll(amara);
    const small = {
      query: 'query($nic: ID!) { personInfo(nic: $nic) { name } }',
      variables: { nic: amara.nic },
    };
    let done = 0;
    const worker = async () => {
      while (done < 1_000) {
        done++;
        const answer = await graphql(small);
        expect(answer.data?.personInfo).toEqual({ name: amara.birthName });
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));

    const admin = new pg.Pool({
      connectionString: t.stack.postgresAdminUrl.replace(/\/postgres$/, '/ndx_audit'),
    });
    try {
      const verified = await verifyChain(admin);
      expect(verified.ok).toBe(true);
      expect(verified.count).toBeGreaterThanOrEqual(1_000);
      const { rows } = await admin.query(
        `SELECT count(*)::int AS n FROM audit_log WHERE citizen_id = $1 AND consumer_id = 'passport-app' AND outcome = 'SUCCESS'`,
        [amara.nic],
      );
      expect(rows[0].n).toBeGreaterThanOrEqual(1_000);

      // A record that exists (ids are not contiguous: a batch that lost its compare-and-set burns its ids).
      const middle = await admin.query<{ id: string }>(
        'SELECT id::text FROM audit_log ORDER BY id OFFSET $1 LIMIT 1',
        [Math.floor(verified.count / 2)],
      );
      const victim = Number(middle.rows[0]!.id);
      await asSuperuserWithoutTrigger(
        admin,
        `UPDATE audit_log SET consumer_id = 'someone-else' WHERE id = $1`,
        [victim],
      );
      const broken = await verifyChain(admin);
      expect(broken.ok).toBe(false);
      expect(broken.firstBrokenId).toBe(victim);
    } finally {
      await admin.end();
    }
  }, 300_000);
});
