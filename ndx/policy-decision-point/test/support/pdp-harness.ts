import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { createTestDatabase, testLogger, type TestDatabase } from '@ndx/service-kit/testing';
import { startTestIdentityProvider, type TestIdentityProvider } from '@ndx/identity-provider/testing';
import { buildApp } from '../../src/app.ts';
import { readConfig } from '../../src/config.ts';

export interface RunningPdp {
  url: string;
  app: FastifyInstance;
  close(): Promise<void>;
}

/** A real PDP on an ephemeral loopback port, against a real database and a real FUDI. */
export async function startPdp(options: {
  fudi: TestIdentityProvider;
  databaseUrl: string;
  clock?: () => Date;
  env?: Record<string, string>;
}): Promise<RunningPdp> {
  const config = readConfig({
    DATABASE_URL: options.databaseUrl,
    FUDI_ISSUER: options.fudi.issuer,
    PORT: '0',
    ...options.env,
  });
  const app = await buildApp(
    config,
    testLogger('policy-decision-point'),
    options.clock ? { clock: options.clock } : {},
  );
  await app.listen({ port: 0, host: '127.0.0.1' });
  const { port } = app.server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, app, close: () => app.close() };
}

export interface Tokens {
  /** The OE's service token for the PDP. */
  oe: string;
  /** The operator's admin token for the PDP. */
  operator: string;
  /** A consumer app's token for the NDX API (wrong audience for the PDP). */
  consumer: string;
  /** A PDP token from a client that is neither the OE nor an operator. */
  stranger: string;
  /** The operator client's PDP token without the admin scope. */
  operatorWithoutScope: string;
}

export interface Harness {
  fudi: TestIdentityProvider;
  database: TestDatabase;
  pdp: RunningPdp;
  tokens: Tokens;
  /** The clock the PDP decides with; tests move it. */
  clock: { now: Date };
  stop(): Promise<void>;
}

export async function startHarness(label: string): Promise<Harness> {
  const fudi = await startTestIdentityProvider();
  const database = await createTestDatabase(label);
  const clock = { now: new Date('2026-03-10T08:00:00Z') }; // 10:00 in Farajaland
  const oe = await fudi.addServiceClient({
    clientId: 'orchestration-engine',
    resources: ['urn:ndx:pdp', 'urn:ndx:consent', 'urn:dmt:vehicles'],
  });
  const operator = await fudi.addServiceClient({
    clientId: 'ndx-operator',
    resources: ['urn:ndx:pdp'],
    scopes: ['admin'],
  });
  const consumer = await fudi.addServiceClient({ clientId: 'passport-app', resources: ['urn:ndx:api'] });
  const stranger = await fudi.addServiceClient({
    clientId: 'some-service',
    resources: ['urn:ndx:pdp'],
    scopes: ['admin'],
  });
  const tokens: Tokens = {
    oe: await fudi.clientCredentialsToken(oe, 'urn:ndx:pdp'),
    operator: await fudi.clientCredentialsToken(operator, 'urn:ndx:pdp', 'admin'),
    consumer: await fudi.clientCredentialsToken(consumer, 'urn:ndx:api'),
    stranger: await fudi.clientCredentialsToken(stranger, 'urn:ndx:pdp', 'admin'),
    operatorWithoutScope: await fudi.clientCredentialsToken(operator, 'urn:ndx:pdp'),
  };
  const pdp = await startPdp({ fudi, databaseUrl: database.url, clock: () => clock.now });
  return {
    fudi,
    database,
    pdp,
    tokens,
    clock,
    async stop() {
      await pdp.close();
      await database.drop();
      await fudi.stop();
    },
  };
}

export interface HttpResult {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

/** JSON over real HTTP. */
export async function call(
  baseUrl: string,
  path: string,
  options: { method?: string; token?: string; body?: unknown; authorization?: string } = {},
): Promise<HttpResult> {
  const headers: Record<string, string> = {};
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.authorization) headers.authorization = options.authorization;
  const response = await fetch(`${baseUrl}${path}`, {
    method: options.method ?? (options.body === undefined ? 'GET' : 'POST'),
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}
