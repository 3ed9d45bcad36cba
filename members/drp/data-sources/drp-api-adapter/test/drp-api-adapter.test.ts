import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { buildApp as buildLegacyApp } from '@ndx/drp-api';
import { readConfig as readLegacyConfig } from '@ndx/drp-api/config';
import { fixturePersons, insertFixturePersons, type LegacyPerson } from '@ndx/drp-api/testing';
import {
  createTestDatabase,
  freePort,
  randomSecret,
  testLogger,
  type TestDatabase,
} from '@ndx/service-kit/testing';
import { buildApp } from '../src/app.ts';
import { readConfig } from '../src/config.ts';
import { sdl } from '../src/schema.ts';

const legacyKey = randomSecret();
const adapterKey = randomSecret();
let db: TestDatabase;
let legacy: FastifyInstance;
let legacyUrl: string;
let adapterUrl: string;
const started: FastifyInstance[] = [];

async function startAdapter(env: Record<string, string>): Promise<string> {
  const app = await buildApp(
    readConfig({ API_KEY: adapterKey, DRP_API_URL: legacyUrl, DRP_API_KEY: legacyKey, ...env }),
    testLogger(),
  );
  started.push(app);
  return app.listen({ port: 0, host: '127.0.0.1' });
}

/** A real HTTP server on loopback standing in for a misbehaving legacy system; records what it received. */
async function startMisbehavingUpstream(
  handler: (respond: (status: number, body: string) => void, path: string) => void,
): Promise<{ url: string; received: IncomingHttpHeaders[]; server: Server }> {
  const received: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    received.push(req.headers);
    handler((status, body) => {
      if (!res.destroyed) res.writeHead(status, { 'content-type': 'application/json' }).end(body);
    }, req.url ?? '');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received, server };
}
const upstreams: Server[] = [];

interface GraphQLBody {
  data?: Record<string, unknown> | null;
  errors?: { message: string; path?: (string | number)[]; extensions: Record<string, unknown> }[];
}

async function graphql(
  url: string,
  query: string,
  headers: Record<string, string> = { 'x-api-key': adapterKey },
) {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query }),
    // Only catches a hang: every answer here is expected well within it.
    signal: AbortSignal.timeout(20_000),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as GraphQLBody };
}

/** The sum of a service's Prometheus samples of `name` whose labels include all of `labels`. */
async function metricSum(url: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const sample = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (sample?.[1] !== name) continue;
    const found = new Map(
      [...(sample[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]),
    );
    if (Object.entries(labels).every(([k, v]) => found.get(k) === v)) sum += Number(sample[3]);
  }
  return sum;
}

/** Person look-ups the real legacy API has answered, by its own request counter. */
const legacyPersonRequests = () =>
  metricSum(legacyUrl, 'http_requests_total', { method: 'GET', route: '/person/:nic' });

const ALL_FIELDS = 'nic fullName otherNames permanentAddress profession';

beforeAll(async () => {
  db = await createTestDatabase('drp_adapter');
  legacy = await buildLegacyApp(readLegacyConfig({ DATABASE_URL: db.url, API_KEY: legacyKey }), testLogger());
  legacyUrl = await legacy.listen({ port: 0, host: '127.0.0.1' });
  await insertFixturePersons(db.url);
  adapterUrl = await startAdapter({});
});

afterAll(async () => {
  for (const app of started) await app.close();
  for (const server of upstreams) server.closeAllConnections();
  await Promise.all(upstreams.map((s) => new Promise((r) => s.close(r))));
  await legacy?.close();
  await db?.drop();
});

describe('DRP adapter: inbound auth', () => {
  it('answers a request with its own API key', async () => {
    const { status, body } = await graphql(adapterUrl, '{ person(nic: "199560201234") { nic } }');
    expect(status).toBe(200);
    expect(body).toEqual({ data: { person: { nic: '199560201234' } } });
  });

  it('refuses a request without X-API-Key with 401 UNAUTHENTICATED', async () => {
    const { status, headers, body } = await graphql(
      adapterUrl,
      '{ person(nic: "199560201234") { nic } }',
      {},
    );
    expect(status).toBe(401);
    expect(headers.get('www-authenticate')).toContain('ApiKey');
    expect(body.errors?.[0]?.extensions.code).toBe('UNAUTHENTICATED');
    expect(body.data).toBeUndefined();
  });

  it('refuses a wrong key with 401', async () => {
    const { status } = await graphql(adapterUrl, '{ person(nic: "199560201234") { nic } }', {
      'x-api-key': randomSecret(),
    });
    expect(status).toBe(401);
  });

  it('does not accept the legacy API key: the two keys are separate', async () => {
    const { status } = await graphql(adapterUrl, '{ person(nic: "199560201234") { nic } }', {
      'x-api-key': legacyKey,
    });
    expect(status).toBe(401);
  });

  it('serves its SDL without auth at /graphql/schema.graphql', async () => {
    const response = await fetch(`${adapterUrl}/graphql/schema.graphql`);
    expect(response.status).toBe(200);
    expect(response.headers.get('x-ndx-schema-id')).toBe('drp-schema-v1');
    expect(await response.text()).toBe(sdl);
  });
});

describe('DRP adapter: GraphQL to REST translation', () => {
  it.each(fixturePersons.map((p) => [p.nic]))(
    'returns every field of %s exactly as the legacy API has it',
    async (nic) => {
      const legacyAnswer = (await (
        await fetch(`${legacyUrl}/person/${nic}`, { headers: { 'x-api-key': legacyKey } })
      ).json()) as LegacyPerson;
      const { body } = await graphql(adapterUrl, `{ person(nic: "${nic}") { ${ALL_FIELDS} } }`);
      expect(body.errors).toBeUndefined();
      expect(body.data?.['person']).toEqual({
        nic: legacyAnswer.nic,
        fullName: legacyAnswer.full_name,
        otherNames: legacyAnswer.other_names,
        permanentAddress: legacyAnswer.permanent_address,
        profession: legacyAnswer.profession,
      });
    },
  );

  it('returns only the fields asked for', async () => {
    const { body } = await graphql(adapterUrl, '{ person(nic: "199560201234") { fullName profession } }');
    expect(body).toEqual({ data: { person: { fullName: 'Amara Chanda', profession: 'Engineer' } } });
  });

  it('supports variables, aliases and fragments', async () => {
    const response = await fetch(`${adapterUrl}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': adapterKey },
      body: JSON.stringify({
        query:
          'query P($a: ID!, $b: ID!) { first: person(nic: $a) { ...F } second: person(nic: $b) { nic } } fragment F on Person { fullName }',
        variables: { a: '199560201234', b: '852321234V' },
      }),
    });
    expect(await response.json()).toEqual({
      data: { first: { fullName: 'Amara Chanda' }, second: { nic: '852321234V' } },
    });
  });

  it('answers null, without an error, for an unknown NIC (legacy 404)', async () => {
    const legacyAnswer = await fetch(`${legacyUrl}/person/200099999999`, {
      headers: { 'x-api-key': legacyKey },
    });
    expect(legacyAnswer.status).toBe(404);
    const { status, body } = await graphql(adapterUrl, '{ person(nic: "200099999999") { nic } }');
    expect(status).toBe(200);
    expect(body).toEqual({ data: { person: null } });
  });

  it('answers BAD_USER_INPUT for a malformed NIC without calling the legacy API', async () => {
    const before = await legacyPersonRequests();
    const { body } = await graphql(adapterUrl, '{ person(nic: "12345") { nic } }');
    expect(body.data).toEqual({ person: null });
    expect(body.errors).toHaveLength(1);
    expect(body.errors?.[0]?.extensions.code).toBe('BAD_USER_INPUT');
    expect(body.errors?.[0]?.path).toEqual(['person']);
    expect(await legacyPersonRequests()).toBe(before);
    // The counter does see a well-formed look-up, so the check above can fail.
    await graphql(adapterUrl, '{ person(nic: "199560201234") { nic } }');
    expect(await legacyPersonRequests()).toBe(before + 1);
  });

  it('rejects a query for a field the schema does not have', async () => {
    const { status, body } = await graphql(adapterUrl, '{ person(nic: "199560201234") { sex } }');
    expect(status).toBe(400);
    expect(body.errors?.[0]?.extensions.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });
});

describe('DRP adapter: upstream failures are PROVIDER_ERROR, never a silent null', () => {
  it('maps a legacy 5xx to PROVIDER_ERROR with the upstream status', async () => {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      // Break the real legacy API: its query now fails and it answers 500.
      await client.query('ALTER TABLE persons RENAME TO persons_away');
      const { status, body } = await graphql(adapterUrl, '{ person(nic: "199560201234") { nic } }');
      expect(status).toBe(200);
      expect(body.data).toEqual({ person: null });
      expect(body.errors?.[0]?.extensions).toMatchObject({
        code: 'PROVIDER_ERROR',
        reason: 'status',
        upstreamStatus: 500,
        source: 'drp-api',
      });
    } finally {
      await client.query('ALTER TABLE persons_away RENAME TO persons');
      await client.end();
    }
  });

  it('maps a timeout of a slow legacy system to PROVIDER_ERROR reason timeout', async () => {
    // The legacy system takes the request and never answers: only the adapter's own timeout can end it.
    let lookupReceived!: (path: string) => void;
    const received = new Promise<string>((resolve) => (lookupReceived = resolve));
    const silent = await startMisbehavingUpstream((_respond, path) => {
      if (path.startsWith('/person/')) lookupReceived(path);
    });
    upstreams.push(silent.server);
    const url = await startAdapter({ DRP_API_URL: silent.url, UPSTREAM_TIMEOUT_MS: '200' });
    const { status, body } = await graphql(url, '{ person(nic: "199560201234") { nic } }');
    expect(await received).toBe('/person/199560201234');
    expect(status).toBe(200);
    expect(body.data).toEqual({ person: null });
    expect(body.errors?.[0]?.extensions).toMatchObject({
      code: 'PROVIDER_ERROR',
      reason: 'timeout',
      source: 'drp-api',
    });
    expect(body.errors?.[0]?.message).toMatch(/within 200 ms/);
  });

  it('maps a 200 answer that is not JSON to PROVIDER_ERROR reason invalid-response', async () => {
    const garbage = await startMisbehavingUpstream((respond) => respond(200, '<html>maintenance</html>'));
    upstreams.push(garbage.server);
    const url = await startAdapter({ DRP_API_URL: garbage.url });
    const { body } = await graphql(url, '{ person(nic: "199560201234") { nic } }');
    expect(body.errors?.[0]?.extensions).toMatchObject({
      code: 'PROVIDER_ERROR',
      reason: 'invalid-response',
      upstreamStatus: 200,
    });
  });

  it('maps JSON in the wrong shape to PROVIDER_ERROR instead of guessing', async () => {
    const wrong = await startMisbehavingUpstream((respond) => respond(200, '{"nic":"199560201234"}'));
    upstreams.push(wrong.server);
    const url = await startAdapter({ DRP_API_URL: wrong.url });
    const { body } = await graphql(url, '{ person(nic: "199560201234") { nic } }');
    expect(body.errors?.[0]?.extensions).toMatchObject({
      code: 'PROVIDER_ERROR',
      reason: 'invalid-response',
    });
  });

  it('maps a legacy 401 (wrong legacy key configured) to PROVIDER_ERROR with status 401', async () => {
    const url = await startAdapter({ DRP_API_KEY: randomSecret() });
    const { body } = await graphql(url, '{ person(nic: "199560201234") { nic } }');
    expect(body.errors?.[0]?.extensions).toMatchObject({ code: 'PROVIDER_ERROR', upstreamStatus: 401 });
  });

  it('maps an unreachable legacy system to PROVIDER_ERROR and reports unready', async () => {
    const url = await startAdapter({ DRP_API_URL: `http://127.0.0.1:${await freePort()}` });
    const { body } = await graphql(url, '{ person(nic: "199560201234") { nic } }');
    expect(body.errors?.[0]?.extensions).toMatchObject({ code: 'PROVIDER_ERROR', reason: 'unreachable' });
    const ready = await fetch(`${url}/ready`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { checks: unknown }).checks).toEqual({ 'drp-api': false });
  });
});

describe('DRP adapter: operations', () => {
  it('is ready when the legacy API is reachable', async () => {
    const ready = await fetch(`${adapterUrl}/ready`);
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as { checks: unknown }).checks).toEqual({ 'drp-api': true });
  });

  it('propagates the caller trace id to the legacy call', async () => {
    const recorder = await startMisbehavingUpstream((respond) => respond(404, '{}'));
    upstreams.push(recorder.server);
    const url = await startAdapter({ DRP_API_URL: recorder.url });
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const { body } = await graphql(url, '{ person(nic: "199560201234") { nic } }', {
      'x-api-key': adapterKey,
      traceparent: `00-${traceId}-00f067aa0ba902b7-01`,
    });
    expect(body).toEqual({ data: { person: null } });
    expect(recorder.received[0]?.['traceparent']).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-01$`));
    expect(recorder.received[0]?.['x-api-key']).toBe(legacyKey);
  });

  it('counts upstream calls in /metrics', async () => {
    const counts = async () => ({
      upstreamOk: await metricSum(adapterUrl, 'adapter_upstream_duration_seconds_count', {
        source: 'drp-api',
        outcome: 'ok',
      }),
      personOk: await metricSum(adapterUrl, 'adapter_field_requests_total', {
        field: 'person',
        outcome: 'ok',
      }),
      personBadInput: await metricSum(adapterUrl, 'adapter_field_requests_total', {
        field: 'person',
        outcome: 'BAD_USER_INPUT',
      }),
    });
    const before = await counts();
    expect(
      (await graphql(adapterUrl, '{ person(nic: "199560201234") { nic } }')).body.errors,
    ).toBeUndefined();
    await graphql(adapterUrl, '{ person(nic: "12345") { nic } }');
    expect(await counts()).toEqual({
      upstreamOk: before.upstreamOk + 1,
      personOk: before.personOk + 1,
      personBadInput: before.personBadInput + 1,
    });
  });
});
