import type { FastifyInstance } from 'fastify';
import type { Logger } from '@ndx/service-kit';
import { createTestDatabase, freePort, testLogger, type TestDatabase } from '@ndx/service-kit/testing';
import { startTestIdentityProvider, type TestIdentityProvider } from '@ndx/identity-provider/testing';
import { demoCitizens } from '@ndx/synthetic-data';
import { buildApp } from '../../src/app.ts';
import { defaultConsumers, readConfig, type ConsumerInfo } from '../../src/config.ts';
import type { Clock } from '../../src/clock.ts';

export const AUDIENCE = 'urn:ndx:consent';
/** A public test client through which tests get citizen tokens for the CE's API. */
export const CITIZEN_TEST_CLIENT = 'citizen-test';
export const CITIZEN_TEST_REDIRECT = 'http://127.0.0.1:9/citizen-test/callback';

export const amara = demoCitizens[0]!;
export const bwalya = demoCitizens[1]!;

export interface Harness {
  fudi: TestIdentityProvider;
  ce: FastifyInstance;
  /** The CE's base URL (also its CONSENT_PORTAL_PUBLIC_URL). */
  url: string;
  /** The CE's own (test) database. */
  databaseUrl: string;
  /** A fresh orchestration-engine service token for the CE's audience. */
  oeToken(): Promise<string>;
  stop(): Promise<void>;
}

/** Starts the real FUDI and the real CE (fresh databases) with the clients and demo citizens tests use. */
export async function startHarness(
  options: {
    clock?: Clock;
    consumers?: Record<string, ConsumerInfo>;
    /** The stack registers consent-portal as a public client (PKCE only); the CE also supports a confidential one. */
    portalClient?: 'public' | 'confidential';
    /** More CE environment (e.g. AUDIT_DATABASE_URL). */
    env?: Record<string, string>;
    /** The CE's logger (default: the test logger, silent unless TEST_LOG_LEVEL is set). */
    logger?: Logger;
  } = {},
): Promise<Harness> {
  const fudi = await startTestIdentityProvider();
  let db: TestDatabase | undefined;
  try {
    db = await createTestDatabase('ce');
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const portal = await fudi.addWebClient({
      clientId: 'consent-portal',
      redirectUris: [`${url}/auth/callback`],
      resources: [AUDIENCE],
      public: options.portalClient !== 'confidential',
    });
    await fudi.addWebClient({
      clientId: CITIZEN_TEST_CLIENT,
      redirectUris: [CITIZEN_TEST_REDIRECT],
      resources: [AUDIENCE],
      public: true,
    });
    const oe = await fudi.addServiceClient({
      clientId: 'orchestration-engine',
      resources: [AUDIENCE, 'urn:ndx:pdp'],
    });
    for (const citizen of [amara, bwalya]) {
      await fudi.addCitizen({ nic: citizen.nic, name: citizen.birthName, password: citizen.password });
    }
    const config = readConfig({
      DATABASE_URL: db.url,
      PORT: String(port),
      FUDI_ISSUER: fudi.issuer,
      CONSENT_PORTAL_PUBLIC_URL: url,
      ...(portal.clientSecret ? { CONSENT_PORTAL_CLIENT_SECRET: portal.clientSecret } : {}),
      CONSENT_CITIZEN_CLIENTS: `consent-portal,${CITIZEN_TEST_CLIENT}`,
      CONSENT_CONSUMERS: JSON.stringify(options.consumers ?? defaultConsumers),
      CONSENT_SWEEP_INTERVAL_SECONDS: '0',
      ...options.env,
    });
    const ce = await buildApp(
      config,
      options.logger ?? testLogger('consent-engine'),
      options.clock ? { clock: options.clock } : {},
    );
    await ce.listen({ port, host: '127.0.0.1' });
    const database = db;
    return {
      fudi,
      ce,
      url,
      databaseUrl: database.url,
      oeToken: () => fudi.clientCredentialsToken(oe, AUDIENCE),
      stop: async () => {
        await ce.close();
        await database.drop();
        await fudi.stop();
      },
    };
  } catch (err) {
    await db?.drop().catch(() => undefined);
    await fudi.stop().catch(() => undefined);
    throw err;
  }
}

/** JSON over real HTTP. */
export async function call(
  url: string,
  options: { method?: string; token?: string; body?: unknown } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, {
    method: options.method ?? (options.body === undefined ? 'GET' : 'POST'),
    headers: {
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    signal: AbortSignal.timeout(10_000),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}
