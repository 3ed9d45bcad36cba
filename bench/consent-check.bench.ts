/**
 * Consent check at scale: p50/p99 of the CE's coverage check (`POST /v1/consents/check`) with 10,000 and
 * then 1,000,000 consent records, in process (ConsentStore.check, the one prepared statement and the
 * coverage computed from its rows) and over HTTP (the real CE app, a real FUDI token verified on every
 * request, JSON over loopback). Every check asks about a citizen drawn at random from all of them (no hot
 * key). Target (issue 12): p99 grows less than 2x from the small size to the large one.
 *
 * Records are bulk-generated (INSERT … SELECT generate_series, in batches of 100,000) into one database per
 * size, created by the CE's own migrations, each served by its own CE; the sizes are then measured in
 * alternating rounds, so that load from elsewhere on the machine weighs on both alike. Each citizen has four
 * records: an ACTIVE, a REVOKED and an EXPIRED one for the passport app, and an ACTIVE one for the traffic
 * police app; the passport consent grants the ten fields of the passport query, with display names and
 * descriptions as the portal shows them. Over HTTP: one connection (the check's latency) and
 * `--concurrency` connections (under load).
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
import { generateConsents, PASSPORT_FIELDS } from './support/consent-rows.ts';

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
/** Measurement rounds, alternating between the sizes. */
const ROUNDS = 4;

const askedFields = PASSPORT_FIELDS;

/** Citizen c's NIC (12 digits, new format). */
const nicOf = (c: number) => `19${String(c).padStart(10, '0')}`;

/**
 * Rows [from, to) (bench/support/consent-rows.ts): row i belongs to citizen i / 4; i % 4 is its kind (ACTIVE,
 * REVOKED and EXPIRED passport, ACTIVE traffic police). Granted up to a day ago, ACTIVE ones unexpired.
 */
async function generate(pool: pg.Pool, from: number, to: number): Promise<void> {
  await generateConsents(pool, {
    from,
    to,
    prefix: 'bench-consent',
    citizens: { synthetic: true },
    batch: BATCH,
  });
  await pool.query('VACUUM ANALYZE consents');
}

const percentile = (sorted: number[], p: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]! : NaN;

/** Latencies (ms) and the wall time they took, summed over rounds. */
interface Samples {
  latencies: number[];
  seconds: number;
  failures: number;
}
const emptySamples = (): Samples => ({ latencies: [], seconds: 0, failures: 0 });

/** `total` checks over `lanes` closed loops, each for a random citizen among `citizens`, added to `into`. */
async function measure(
  into: Samples,
  citizens: number,
  lanes: number,
  total: number,
  check: (citizenId: string) => Promise<boolean>,
): Promise<void> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next++ < total) {
        const citizen = nicOf(Math.floor(Math.random() * citizens));
        const t0 = performance.now();
        const covered = await check(citizen).catch(() => false);
        into.latencies.push(performance.now() - t0);
        if (!covered) into.failures++;
      }
    }),
  );
  into.seconds += (performance.now() - started) / 1000;
}

interface Summary {
  p50: number;
  p99: number;
  perSecond: number;
  failures: number;
}
function summary(samples: Samples): Summary {
  const sorted = [...samples.latencies].sort((a, b) => a - b);
  return {
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    perSecond: sorted.length / samples.seconds,
    failures: samples.failures,
  };
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
  const databases = {
    consent: (size: number) => `consent_bench_${size}_${suffix}`,
    fudi: `consent_bench_fudi_${suffix}`,
  };
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${databases.fudi}`);
  const created = [databases.fudi];
  const closers: (() => Promise<unknown>)[] = [];
  try {
    const fudi = await startFudi(withDatabase(adminUrl, databases.fudi), randomSecret(32));
    closers.push(fudi.close);
    const headers = { authorization: `Bearer ${fudi.token}`, 'content-type': 'application/json' };
    const body = (citizenId: string) => ({
      citizenId,
      consumerId: 'passport-app',
      purpose: 'passport-application',
      fields: askedFields,
    });

    // One database and one CE per size (its migrations create the tables), generated before measuring, so
    // that the sizes can be measured in alternating rounds: load from elsewhere on the machine then
    // weighs on both alike instead of on whichever came second.
    const targets = [];
    for (const size of sizes) {
      const url = withDatabase(adminUrl, databases.consent(size));
      await admin.query(`CREATE DATABASE ${databases.consent(size)}`);
      created.push(databases.consent(size));
      const config = readConfig({
        DATABASE_URL: url,
        FUDI_ISSUER: fudi.issuer,
        LOG_LEVEL: 'warn',
        CONSENT_SWEEP_INTERVAL_SECONDS: '0',
      });
      const ce = await buildApp(config, logger);
      await ce.listen({ port: 0, host: '127.0.0.1' });
      closers.push(() => ce.close());
      const pool = createPool(url, logger, { max: 2, statementTimeoutMs: 600_000 });
      closers.push(() => pool.end());
      const t0 = performance.now();
      await generate(pool, 0, size);
      const generation = (performance.now() - t0) / 1000;
      console.log(
        `${size.toLocaleString('en').padStart(10)} consents generated in ${generation.toFixed(1)} s`,
      );
      const store = createConsentStore(config, pool);
      const checkUrl = `http://127.0.0.1:${(ce.server.address() as AddressInfo).port}/v1/consents/check`;
      targets.push({
        size,
        citizens: size / 4,
        inProcess: async (citizenId: string) => (await store.check(body(citizenId))).covered,
        overHttp: async (citizenId: string) => {
          const response = await fetch(checkUrl, {
            method: 'POST',
            headers,
            body: JSON.stringify(body(citizenId)),
          });
          const answer = (await response.json()) as { covered?: boolean };
          return response.status === 200 && answer.covered === true;
        },
        samples: { inProcess: emptySamples(), http1: emptySamples(), httpN: emptySamples() },
      });
    }

    console.log(
      `consent check: ${checks} checks per size and way, random citizens, in ${ROUNDS} alternating rounds; ` +
        `in process one at a time, HTTP over 1 and over ${concurrency} connections`,
    );
    for (const target of targets) {
      // Warm-up: connections open, statement prepared, the CE's code compiled.
      await measure(emptySamples(), target.citizens, 1, 300, target.inProcess);
      await measure(emptySamples(), target.citizens, concurrency, 300, target.overHttp);
    }
    const perRound = Math.ceil(checks / ROUNDS);
    for (let round = 0; round < ROUNDS; round++) {
      for (const target of round % 2 === 0 ? targets : [...targets].reverse()) {
        const { samples, citizens } = target;
        await measure(samples.inProcess, citizens, 1, perRound, target.inProcess);
        await measure(samples.http1, citizens, 1, perRound, target.overHttp);
        await measure(samples.httpN, citizens, concurrency, perRound, target.overHttp);
      }
    }

    const ways = [
      ['in process', 'inProcess'],
      ['HTTP, 1 conn', 'http1'],
      [`HTTP, ${concurrency} conns`, 'httpN'],
    ] as const;
    const summaries = targets.map((t) => ({
      size: t.size,
      ...Object.fromEntries(ways.map(([, key]) => [key, summary(t.samples[key])])),
    })) as ({ size: number } & Record<(typeof ways)[number][1], Summary>)[];
    for (const s of summaries) {
      console.log(
        `${s.size.toLocaleString('en').padStart(10)} consents (${(s.size / 4).toLocaleString('en')} citizens)`,
      );
      for (const [label, key] of ways) {
        const m = s[key];
        console.log(
          `  ${label.padEnd(15)} p50 ${ms(m.p50)}  p99 ${ms(m.p99)}  ${m.perSecond.toFixed(0).padStart(5)} checks/s  failures ${m.failures}`,
        );
      }
    }
    if (summaries.length >= 2) {
      const small = summaries[0]!;
      const large = summaries.at(-1)!;
      for (const [label, key] of ways) {
        const growth = large[key].p99 / small[key].p99;
        console.log(
          `p99 growth ${small.size.toLocaleString('en')} → ${large.size.toLocaleString('en')}, ${label}: ` +
            `${growth.toFixed(2)}x (target < 2x: ${growth < 2 ? 'met' : 'MISSED'})`,
        );
      }
    }
  } finally {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    for (const name of created) {
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
