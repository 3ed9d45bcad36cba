import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parse, stripIgnoredCharacters } from 'graphql';
import { createLogger } from '@ndx/service-kit';
import { fetchReleased } from '../src/fetching.ts';
import { loadFlConfig } from '../src/fl-config.ts';
import { planQuery } from '../src/planner.ts';
import { ProviderClient } from '../src/provider-client.ts';
import type { QueryPlan } from '../src/query-plan.ts';
import { loadUnifiedSchema } from '../src/schema.ts';

const { schema } = loadUnifiedSchema();
const { argMappings } = loadFlConfig(undefined, { env: {} });
const logger = createLogger('fetching-test', { level: 'silent' });
const NIC = '199012345678';

/** fullName from DRP, name from RGD, the vehicles' make from DMT. */
const THREE_PROVIDERS = 'query($nic: ID!) { personInfo(nic: $nic) { fullName name ownedVehicles { make } } }';

function plan(query = THREE_PROVIDERS): QueryPlan {
  return planQuery(schema, argMappings, { document: parse(query), variables: { nic: NIC } });
}

function leavesOf(p: QueryPlan, ...providerKeys: string[]): Set<number> {
  return new Set(p.leaves.filter((l) => providerKeys.includes(l.providerKey)).map((l) => l.id));
}

interface SeenRequest {
  headers: IncomingMessage['headers'];
  body: { query: string; variables: Record<string, unknown> };
}

/** How the provider answers its n-th request (0-based): a GraphQL body, or a failure. */
type Script = (
  n: number,
  request: SeenRequest,
) =>
  | { status?: number; body: unknown }
  | { destroy: true }
  | { never: true }
  | Promise<{ status?: number; body: unknown }>;

interface Provider {
  url: string;
  seen: SeenRequest[];
}

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((done) => server.close(done));
  }
});

/** A real GraphQL-over-HTTP provider on a loopback port, answering as `script` says and keeping every request. */
async function startProvider(script: Script): Promise<Provider> {
  const seen: SeenRequest[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const request: SeenRequest = {
        headers: req.headers,
        body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as SeenRequest['body'],
      };
      seen.push(request);
      void Promise.resolve(script(seen.length - 1, request)).then((answer) => {
        if ('destroy' in answer) req.socket.destroy();
        else if ('never' in answer) return;
        else {
          res.writeHead(answer.status ?? 200, { 'content-type': 'application/json' });
          res.end(JSON.stringify(answer.body));
        }
      });
    });
  });
  servers.push(server);
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`, seen };
}

function clientFor(key: string, provider: Provider, timeoutMs = 3_000): ProviderClient {
  return new ProviderClient(
    {
      key,
      url: provider.url,
      timeoutMs,
      auth: { type: 'apiKey', header: 'x-api-key', value: `${key}-secret` },
    },
    logger,
  );
}

const answers = {
  drp: { data: { personInfo: { fullName: 'Amara Perera' } } },
  rgd: { data: { personInfo: { fullName: 'Amara Perera' } } },
  dmt: { data: { personInfo: [{ make: 'Toyota' }] } },
};

describe('fetching the released fields from the providers', () => {
  it('sends each provider one sub-query with only its released fields, its credentials and the argument as a variable', async () => {
    const drp = await startProvider(() => ({ body: answers.drp }));
    const rgd = await startProvider(() => ({ body: answers.rgd }));
    const dmt = await startProvider(() => ({ body: answers.dmt }));
    const p = plan();
    const released = leavesOf(p, 'drp', 'dmt');

    const result = await fetchReleased(
      p,
      released,
      new Map([
        ['drp', clientFor('drp', drp)],
        ['rgd', clientFor('rgd', rgd)],
        ['dmt', clientFor('dmt', dmt)],
      ]),
    );

    expect(rgd.seen).toEqual([]);
    expect(drp.seen).toHaveLength(1);
    expect(stripIgnoredCharacters(drp.seen[0]!.body.query)).toBe(
      'query ndx_drp($personInfo_nic:ID!){personInfo:person(nic:$personInfo_nic){fullName}}',
    );
    expect(drp.seen[0]!.body.variables).toEqual({ personInfo_nic: NIC });
    expect(drp.seen[0]!.headers['x-api-key']).toBe('drp-secret');
    expect(stripIgnoredCharacters(dmt.seen[0]!.body.query)).toBe(
      'query ndx_dmt($personInfo_ownerNic:ID!){personInfo:vehiclesByOwner(ownerNic:$personInfo_ownerNic){make}}',
    );
    expect(dmt.seen[0]!.headers['x-api-key']).toBe('dmt-secret');
    expect(result.outcomes).toEqual({
      drp: { ok: true, data: answers.drp.data, errors: [] },
      dmt: { ok: true, data: answers.dmt.data, errors: [] },
    });
    expect(result.calls.map((c) => [c.providerKey, c.outcome.ok, c.outcome.attempts])).toEqual([
      ['drp', true, 1],
      ['dmt', true, 1],
    ]);
  });

  it('calls the providers in parallel: each answers only once all three have been asked', async () => {
    let arrived = 0;
    let allAsked: () => void = () => undefined;
    const barrier = new Promise<void>((done) => (allAsked = done));
    // Each provider holds its answer until every provider has its request: called one after another, the
    // first would wait past its timeout and be PROVIDER_UNAVAILABLE.
    const held = (body: unknown) => async () => {
      if (++arrived === 3) allAsked();
      await barrier;
      return { body };
    };
    const drp = await startProvider(held(answers.drp));
    const rgd = await startProvider(held(answers.rgd));
    const dmt = await startProvider(held(answers.dmt));
    const p = plan();

    const result = await fetchReleased(
      p,
      leavesOf(p, 'drp', 'rgd', 'dmt'),
      new Map([
        ['drp', clientFor('drp', drp, 2_000)],
        ['rgd', clientFor('rgd', rgd, 2_000)],
        ['dmt', clientFor('dmt', dmt, 2_000)],
      ]),
    );

    expect(Object.fromEntries(Object.entries(result.outcomes).map(([k, o]) => [k, o.ok]))).toEqual({
      drp: true,
      rgd: true,
      dmt: true,
    });
  });

  it('turns a provider answering HTTP 500 into PROVIDER_ERROR for its fields, not retried, and keeps the other answers', async () => {
    const drp = await startProvider(() => ({ status: 500, body: { message: 'boom' } }));
    const rgd = await startProvider(() => ({ body: answers.rgd }));
    const p = plan('query($nic: ID!) { personInfo(nic: $nic) { fullName name } }');

    const result = await fetchReleased(
      p,
      leavesOf(p, 'drp', 'rgd'),
      new Map([
        ['drp', clientFor('drp', drp)],
        ['rgd', clientFor('rgd', rgd)],
      ]),
    );

    expect(drp.seen).toHaveLength(1);
    expect(result.outcomes['drp']).toEqual({
      ok: false,
      code: 'PROVIDER_ERROR',
      message: 'drp answered with an error',
      extensions: { providerKey: 'drp' },
    });
    expect(result.outcomes['rgd']).toEqual({ ok: true, data: answers.rgd.data, errors: [] });
    expect(result.calls.find((c) => c.providerKey === 'drp')!.outcome).toMatchObject({
      ok: false,
      code: 'PROVIDER_ERROR',
      failure: 'status',
      status: 500,
      attempts: 1,
    });
  });

  it('passes a partial answer on as an answer: the data with the provider’s GraphQL errors', async () => {
    const error = {
      message: 'SOAP fault',
      path: ['personInfo', 0, 'make'],
      extensions: { code: 'INTERNAL' },
    };
    const dmt = await startProvider(() => ({
      body: { data: { personInfo: [{ make: null }, { make: 'Honda' }] }, errors: [error] },
    }));
    const p = plan('query($nic: ID!) { personInfo(nic: $nic) { ownedVehicles { make } } }');

    const result = await fetchReleased(p, leavesOf(p, 'dmt'), new Map([['dmt', clientFor('dmt', dmt)]]));

    expect(result.outcomes['dmt']).toEqual({
      ok: true,
      data: { personInfo: [{ make: null }, { make: 'Honda' }] },
      errors: [error],
    });
  });

  it('retries a dropped connection once and uses the second answer', async () => {
    const drp = await startProvider((n) => (n === 0 ? { destroy: true } : { body: answers.drp }));
    const p = plan('query($nic: ID!) { personInfo(nic: $nic) { fullName } }');

    const result = await fetchReleased(p, leavesOf(p, 'drp'), new Map([['drp', clientFor('drp', drp)]]));

    expect(drp.seen).toHaveLength(2);
    expect(drp.seen[1]!.body).toEqual(drp.seen[0]!.body);
    expect(result.outcomes['drp']).toEqual({ ok: true, data: answers.drp.data, errors: [] });
    expect(result.calls[0]!.outcome).toMatchObject({ ok: true, attempts: 2 });
  });

  it('tries a provider that drops every connection exactly twice, then it is PROVIDER_UNAVAILABLE', async () => {
    const drp = await startProvider(() => ({ destroy: true }));
    const p = plan('query($nic: ID!) { personInfo(nic: $nic) { fullName } }');

    const result = await fetchReleased(p, leavesOf(p, 'drp'), new Map([['drp', clientFor('drp', drp)]]));

    expect(drp.seen).toHaveLength(2);
    expect(result.outcomes['drp']).toEqual({
      ok: false,
      code: 'PROVIDER_UNAVAILABLE',
      message: 'drp did not answer in time or could not be reached',
      extensions: { providerKey: 'drp' },
    });
    expect(result.calls[0]!.outcome).toMatchObject({
      ok: false,
      code: 'PROVIDER_UNAVAILABLE',
      failure: 'connection',
      attempts: 2,
    });
  });

  it('does not retry a provider that timed out', async () => {
    const drp = await startProvider(() => ({ never: true }));
    const p = plan('query($nic: ID!) { personInfo(nic: $nic) { fullName } }');

    const result = await fetchReleased(p, leavesOf(p, 'drp'), new Map([['drp', clientFor('drp', drp, 300)]]));

    expect(drp.seen).toHaveLength(1);
    expect(result.calls[0]!.outcome).toMatchObject({
      ok: false,
      code: 'PROVIDER_UNAVAILABLE',
      failure: 'timeout',
      attempts: 1,
    });
    expect(result.outcomes['drp']).toMatchObject({ ok: false, code: 'PROVIDER_UNAVAILABLE' });
  });

  it('calls no provider when nothing was released', async () => {
    const drp = await startProvider(() => ({ body: answers.drp }));
    const rgd = await startProvider(() => ({ body: answers.rgd }));
    const p = plan('query($nic: ID!) { personInfo(nic: $nic) { fullName name } }');

    const result = await fetchReleased(
      p,
      new Set(),
      new Map([
        ['drp', clientFor('drp', drp)],
        ['rgd', clientFor('rgd', rgd)],
      ]),
    );

    expect(result).toEqual({ outcomes: {}, calls: [] });
    expect([drp.seen.length, rgd.seen.length]).toEqual([0, 0]);
  });
});
