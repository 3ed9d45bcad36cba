import { afterAll, beforeAll, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { createPool, type Pool } from '@ndx/service-kit';
import { createTestDatabase, testLogger, type TestDatabase } from '@ndx/service-kit/testing';
import { buildApp } from '../src/app.ts';
import { defaultConsumers, defaultPurposes, readConfig } from '../src/config.ts';
import { ConsentStore } from '../src/consent-store.ts';

const clock = { time: Date.parse('2026-05-01T08:00:00Z'), now: () => new Date(clock.time) };
let db: TestDatabase;
let app: FastifyInstance;
let pool: Pool;

beforeAll(async () => {
  db = await createTestDatabase('ce_sweep');
  const config = readConfig({ DATABASE_URL: db.url, CONSENT_SWEEP_INTERVAL_SECONDS: '1' });
  app = await buildApp(config, testLogger(), { clock });
  pool = createPool(db.url, testLogger());
});

afterAll(async () => {
  await app?.close();
  await pool?.end();
  await db?.drop();
});

it('the running service periodically marks lapsed requests EXPIRED and records the event', async () => {
  const store = new ConsentStore({
    pool,
    clock,
    consumers: defaultConsumers,
    purposes: defaultPurposes,
    durations: [],
    pendingTtlSeconds: 3600,
    noticeVersion: 'test',
  });
  const { consent } = await store.request(
    {
      citizenId: '852321234V',
      consumerId: 'passport-app',
      purpose: 'passport-application',
      fields: [
        { providerKey: 'rgd', schemaId: 'rgd-v1', field: 'birth.fullName', displayName: 'Name at birth' },
      ],
    },
    { type: 'service', id: 'orchestration-engine' },
  );
  clock.time += 3_600_000 + 1;
  const stored = async () =>
    (await pool.query<{ status: string }>('SELECT status FROM consents WHERE id = $1', [consent.id])).rows[0]!
      .status;
  await expect.poll(stored, { timeout: 5_000, interval: 200 }).toBe('EXPIRED');
  const events = await store.events(consent.id);
  expect(events.at(-1)).toMatchObject({
    from: 'PENDING',
    to: 'EXPIRED',
    actor: { type: 'system', id: 'expiry-sweep' },
  });
});
