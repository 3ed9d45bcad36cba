/**
 * Consent check at scale: p50/p99 of the CE's coverage check (`POST /v1/consents/check`) with 10,000 and
 * then 1,000,000 consent records, in process (ConsentStore.check, the one prepared statement and the
 * coverage computed from its rows) and over HTTP (the real CE app, a real FUDI token verified on every
 * request, JSON over loopback). Every check asks about a citizen drawn at random from all of them (no hot
 * key). Target (issue 12): p99 grows less than 2x from the small size to the large one.
 *
 * Records are bulk-generated in the database (INSERT … SELECT generate_series, in batches) into a database
 * the CE's own migrations created. Each citizen has four records: an ACTIVE and a REVOKED and an EXPIRED one
 * for the passport app, and an ACTIVE one for the traffic police app; the passport consent grants the ten
 * fields of the passport query, with display names and descriptions as the portal shows them.
 *
 *   node bench/consent-check.bench.ts            starts a throw-away embedded PostgreSQL
 *   BENCH_DATABASE_URL=postgres://admin@…/postgres node bench/consent-check.bench.ts
 * Options: --sizes 10000,1000000  --checks 4000 (per measurement)  --concurrency 8 (HTTP)
 * Prints figures; not a test.
 */
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createLogger, createPool } from '@ndx/service-kit';
import { startEmbeddedPostgres, withDatabase } from '@ndx/service-kit/postgres';
import { freePort, randomSecret } from '@ndx/service-kit/testing';
import { buildApp } from '../ndx/consent-engine/src/app.ts';
import { readConfig } from '../ndx/consent-engine/src/config.ts';
import { createConsentStore } from '../ndx/consent-engine/src/store-from-config.ts';
import { buildIdentityProvider } from '../ndx/identity-provider/src/app.ts';
import { readConfig as readFudiConfig } from '../ndx/identity-provider/src/config.ts';

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10000,1000000' },
    checks: { type: 'string', default: '4000' },
    concurrency: { type: 'string', default: '8' },
  },
});
const sizes = values.sizes
  .split(',')
  .map((s) => Math.min(Math.max(Math.round(Number(s) / 4) * 4, 4), 20_000_000))
  .sort((a, b) => a - b);
const checks = Math.min(Math.max(Number(values.checks), 100), 100_000);
const concurrency = Math.min(Math.max(Number(values.concurrency), 1), 64);
const logger = createLogger('consent-bench', { level: 'error' });
/** Rows inserted per statement while generating. */
const BATCH = 100_000;

const passportFields = [
  ['rgd', 'abc-212', 'getPersonInfo.fullName', 'Name at birth'],
  ['rgd', 'abc-212', 'getPersonInfo.dateOfBirth', 'Date of birth'],
  ['rgd', 'abc-212', 'getPersonInfo.sex', 'Sex'],
  ['rgd', 'abc-212', 'getPersonInfo.birthRegistrationNumber', 'Birth registration number'],
  ['rgd', 'abc-212', 'getPersonInfo.birthPlace', 'Place of birth'],
  ['rgd', 'abc-212', 'getPersonInfo.district', 'District of birth'],
  ['drp', 'drp-schema-v1', 'person.fullName', 'Full name'],
  ['drp', 'drp-schema-v1', 'person.otherNames', 'Other names'],
  ['drp', 'drp-schema-v1', 'person.permanentAddress', 'Permanent address'],
  ['drp', 'drp-schema-v1', 'person.profession', 'Profession'],
].map(([providerKey, schemaId, field, displayName]) => ({
  providerKey: providerKey!,
  schemaId: schemaId!,
  field: field!,
  displayName: displayName!,
  description: `${displayName} as the registry holds it, shared with the Department of Immigration for your passport application.`,
}));
const askedFields = passportFields.map(({ providerKey, schemaId, field }) => ({
  providerKey,
  schemaId,
  field,
}));

/** Citizen c's NIC (12 digits, new format). */
const nicOf = (c: number) => `19${String(c).padStart(10, '0')}`;

/**
 * Rows [from, to): row i belongs to citizen i / 4; i % 4 is its kind (0 ACTIVE passport, 1 REVOKED passport,
 * 2 EXPIRED passport, 3 ACTIVE traffic police). Granted up to a day ago, ACTIVE ones unexpired.
 */
async function generate(pool: pg.Pool, from: number, to: number): Promise<void> {
  const granted = JSON.stringify(passportFields.map((f) => ({ ...f, granted: true })));
  for (let start = from; start < to; start += BATCH) {
    await pool.query(
      `INSERT INTO consents (id, citizen_id, consumer_id, purpose, purpose_text, legal_basis, fields, status,
         request_key, notice_version, duration_seconds, created_at, decided_at, granted_at, expires_at,
         revoked_at, updated_at)
       SELECT md5('bench-consent' || i)::uuid,
              '19' || lpad((i / 4)::text, 10, '0'),
              CASE WHEN i % 4 = 3 THEN 'traffic-police-app' ELSE 'passport-app' END,
              'passport-application', 'Passport application', 'consent', $3::jsonb,
              (ARRAY['ACTIVE', 'REVOKED', 'EXPIRED', 'ACTIVE'])[(i % 4)::int + 1],
              md5('bench-request' || i), '2026-01', 2592000,
              now() - make_interval(secs => i % 86400 + 60), now() - make_interval(secs => i % 86400 + 30),
              now() - make_interval(secs => i % 86400 + 30),
              CASE WHEN i % 4 = 2 THEN now() - interval '1 day' ELSE now() + interval '29 days' END,
              CASE WHEN i % 4 = 1 THEN now() - make_interval(secs => i % 600) END,
              now()
         FROM generate_series($1::bigint, $2::bigint - 1) AS i`,
      [start, Math.min(start + BATCH, to), granted],
    );
  }
  await pool.query('VACUUM ANALYZE consents');
}

const percentile = (sorted: number[], p: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : NaN;

interface Measured {
  p50: number;
  p99: number;
  perSecond: number;
  failures: number;
}

/** `total` checks over `lanes` closed loops, each for a random citizen among `citizens`; latency of each. */
async function measure(
  citizens: number,
  lanes: number,
  total: number,
  check: (citizenId: string) => Promise<boolean>,
): Promise<Measured> {
  const samples: number[] = [];
  let failures = 0;
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next++ < total) {
        const citizen = nicOf(Math.floor(Math.random() * citizens));
        const t0 = performance.now();
        const covered = await check(citizen).catch(() => false);
        samples.push(performance.now() - t0);
        if (!covered) failures++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 50), p99: percentile(samples, 99), perSecond: total / seconds, failures };
}

async function startFudi(dbUrl: string, serviceSecret: string) {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const fudi = await buildIdentityProvider(
    readFudiConfig({
      DATABASE_URL: dbUrl,
      FUDI_ISSUER: issuer,
      FUDI_COOKIE_SECRET: randomSecret(32),
      PORT: String(port),
      LOG_LEVEL: 'silent',
      FUDI_CLIENTS: JSON.stringify([
        {
          clientId: 'orchestration-engine',
          name: 'OE',
          clientSecret: serviceSecret,
          grantTypes: ['client_credentials'],
          resources: ['urn:ndx:consent'],
        },
      ]),
    }),
    logger,
  );
  await fudi.app.listen({ port, host: '127.0.0.1' });
  const response = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`orchestration-engine:${serviceSecret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', resource: 'urn:ndx:consent' }),
  });
  const { access_token: token } = (await response.json()) as { access_token: string };
  return { issuer, token, close: () => fudi.app.close() };
}

const ms = (n: number) => `${n.toFixed(2).padStart(7)} ms`;

async function main(): Promise<void> {
  let adminUrl = process.env.BENCH_DATABASE_URL;
  let stopPostgres = async () => undefined as void;
  if (!adminUrl) {
    const parent = await mkdtemp(join(tmpdir(), 'ndx-consent-bench-'));
    await chmod(parent, 0o755); // as root, PostgreSQL runs as the postgres user and must enter it
    const server = await startEmbeddedPostgres({
      dataDir: join(parent, 'data'),
      port: await freePort(),
      superuserPassword: randomBytes(18).toString('base64url'),
      ephemeral: true,
    });
    adminUrl = server.adminUrl;
    stopPostgres = async () => {
      await server.stop();
      await rm(parent, { recursive: true, force: true });
    };
  }
  const suffix = randomBytes(4).toString('hex');
  const databases = { consent: `consent_bench_${suffix}`, fudi: `consent_bench_fudi_${suffix}` };
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  for (const name of Object.values(databases)) await admin.query(`CREATE DATABASE ${name}`);
  const consentUrl = withDatabase(adminUrl, databases.consent);
  const closers: (() => Promise<unknown>)[] = [];
  try {
    const fudi = await startFudi(withDatabase(adminUrl, databases.fudi), randomSecret(32));
    closers.push(fudi.close);
    // The CE itself: its migrations create the tables the records are generated into.
    const config = readConfig({
      DATABASE_URL: consentUrl,
      FUDI_ISSUER: fudi.issuer,
      LOG_LEVEL: 'warn',
      CONSENT_SWEEP_INTERVAL_SECONDS: '0',
    });
    const ce = await buildApp(config, logger);
    await ce.listen({ port: 0, host: '127.0.0.1' });
    closers.push(() => ce.close());
    const checkUrl = `http://127.0.0.1:${(ce.server.address() as AddressInfo).port}/v1/consents/check`;
    const headers = { authorization: `Bearer ${fudi.token}`, 'content-type': 'application/json' };
    const overHttp = async (citizenId: string) => {
      const response = await fetch(checkUrl, {
        method: 'POST',
        headers,
        body: JSON.stringify({
          citizenId,
          consumerId: 'passport-app',
          purpose: 'passport-application',
          fields: askedFields,
        }),
      });
      const body = (await response.json()) as { covered?: boolean };
      return response.status === 200 && body.covered === true;
    };

    const pool = createPool(consentUrl, logger, { max: 4, statementTimeoutMs: 600_000 });
    closers.push(() => pool.end());
    const store = createConsentStore(config, pool);
    const inProcess = async (citizenId: string) =>
      (
        await store.check({
          citizenId,
          consumerId: 'passport-app',
          purpose: 'passport-application',
          fields: askedFields,
        })
      ).covered;

    console.log(
      `consent check benchmark: ${checks} checks per measurement, random citizens, ` +
        `in process 1 at a time, HTTP over ${concurrency} connections`,
    );
    const results: { size: number; inProcess: Measured; http: Measured }[] = [];
    let generated = 0;
    for (const size of sizes) {
      const t0 = performance.now();
      await generate(pool, generated, size);
      generated = size;
      const generation = (performance.now() - t0) / 1000;
      const citizens = size / 4;
      await measure(citizens, 1, 300, inProcess); // warm-up: connections open, statement prepared
      await measure(citizens, concurrency, 300, overHttp);
      const local = await measure(citizens, 1, checks, inProcess);
      const http = await measure(citizens, concurrency, checks, overHttp);
      results.push({ size, inProcess: local, http });
      console.log(
        `${size.toLocaleString('en').padStart(10)} consents (${citizens.toLocaleString('en')} citizens, ` +
          `generated in ${generation.toFixed(1)} s)\n` +
          `  in process: p50 ${ms(local.p50)}  p99 ${ms(local.p99)}  ${local.perSecond.toFixed(0)} checks/s  failures ${local.failures}\n` +
          `  HTTP:       p50 ${ms(http.p50)}  p99 ${ms(http.p99)}  ${http.perSecond.toFixed(0)} checks/s  failures ${http.failures}`,
      );
    }
    if (results.length >= 2) {
      const small = results[0]!;
      const large = results.at(-1)!;
      for (const [label, key] of [
        ['in process', 'inProcess'],
        ['HTTP', 'http'],
      ] as const) {
        const growth = large[key].p99 / small[key].p99;
        console.log(
          `p99 growth ${small.size.toLocaleString('en')} → ${large.size.toLocaleString('en')}, ${label}: ` +
            `${growth.toFixed(2)}x (target < 2x: ${growth < 2 ? 'met' : 'MISSED'})`,
        );
      }
    }
  } finally {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    for (const name of Object.values(databases)) {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined);
    }
    await admin.end();
    await stopPostgres();
  }
}

main().catch((err: unknown) => {
  console.error(`consent check bench failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
