/**
 * Benchmark of the Policy Decision Point for a 20-field decision request: decisions per second
 * and p50/p99 latency in-process (the Cedar evaluation alone) and at the HTTP API (real FUDI token
 * verification, real PostgreSQL behind it, autocannon on loopback, bounded in time and connections).
 * Prints figures; not a test.   Run: node bench/pdp.bench.ts [--seconds 10] [--connections 10]
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { createLogger } from '@ndx/service-kit';
import { startEmbeddedPostgres } from '@ndx/service-kit/postgres';
import { freePort, randomSecret } from '@ndx/service-kit/testing';
import { buildIdentityProvider } from '../ndx/identity-provider/src/app.ts';
import { readConfig as readFudiConfig } from '../ndx/identity-provider/src/config.ts';
import { buildApp } from '../ndx/policy-decision-point/src/app.ts';
import { readConfig as readPdpConfig } from '../ndx/policy-decision-point/src/config.ts';
import { decideFields } from '../ndx/policy-decision-point/src/decision-engine.ts';
import { compileBundle } from '../ndx/policy-decision-point/src/policy-compiler.ts';
import { farajalandSeed } from '../ndx/policy-decision-point/src/seed-farajaland.ts';
import { runLoad } from './support/load.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '10' },
    iterations: { type: 'string', default: '2000' },
  },
});
const seconds = Math.min(Math.max(Number(values.seconds), 1), 60);
const connections = Math.min(Math.max(Number(values.connections), 1), 100);
const iterations = Math.min(Math.max(Number(values.iterations), 100), 100_000);

const rgd = [
  'nic',
  'birthRegistrationNumber',
  'fullName',
  'dateOfBirth',
  'birthPlace',
  'district',
  'division',
  'sex',
  'fatherName',
  'fatherNic',
  'motherName',
  'motherNic',
  'registeredOn',
];
const drp = ['nic', 'fullName', 'otherNames', 'permanentAddress', 'profession'];
const request = {
  consumerId: 'passport-app',
  purpose: 'passport-application',
  subjectId: '199560201234',
  fields: [
    ...rgd.map((f) => ({ providerKey: 'rgd', schemaId: 'abc-212', field: `getPersonInfo.${f}` })),
    ...drp.map((f) => ({ providerKey: 'drp', schemaId: 'drp-schema-v1', field: `person.${f}` })),
    { providerKey: 'dmt', schemaId: 'dmt-schema-v1', field: 'vehicle.make' },
    { providerKey: 'dmt', schemaId: 'dmt-schema-v1', field: 'vehicleClasses.className' },
  ],
};
if (request.fields.length !== 20) throw new Error('the request must have 20 fields');

const percentile = (sorted: number[], p: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

function inProcess(): void {
  const compiled = compileBundle({ version: 1, ...farajalandSeed });
  const at = new Date();
  // Cold: every answer computed by Cedar (each decision at a different second, so nothing is reused).
  // Warm: the same second, as under steady traffic from one app: answers are reused across citizens.
  const runs: [string, (i: number) => Date][] = [
    ['cold', (i) => new Date(at.getTime() + i * 1000)],
    ['warm', () => at],
  ];
  for (const [label, when] of runs) {
    for (let i = 0; i < 50; i++) decideFields(compiled, request, when(-i - 1), 'Africa/Lusaka');
    const samples: number[] = [];
    const started = performance.now();
    for (let i = 0; i < iterations; i++) {
      const t = performance.now();
      decideFields(compiled, request, when(i), 'Africa/Lusaka');
      samples.push(performance.now() - t);
    }
    const total = (performance.now() - started) / 1000;
    samples.sort((a, b) => a - b);
    console.log(
      `in-process ${label}  ${iterations} decisions x 20 fields: ${(iterations / total).toFixed(0)} decisions/s, ` +
        `p50 ${percentile(samples, 50).toFixed(2)} ms, p99 ${percentile(samples, 99).toFixed(2)} ms`,
    );
  }
}

async function overHttp(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'pdp-bench-'));
  await chmod(dataDir, 0o755); // as root, PostgreSQL runs as the postgres user and must enter it
  const password = randomSecret();
  const postgres = await startEmbeddedPostgres({
    dataDir: join(dataDir, 'pg'),
    port: await freePort(),
    superuserPassword: password,
    ephemeral: true,
  });
  const logger = createLogger('bench', { level: 'silent' });
  const closers: (() => Promise<unknown>)[] = [];
  try {
    const admin = new pg.Client({ connectionString: postgres.adminUrl });
    await admin.connect();
    await admin.query('CREATE DATABASE bench_identity');
    await admin.query('CREATE DATABASE bench_policy');
    await admin.end();
    const dbUrl = (name: string) => postgres.adminUrl.replace(/\/postgres$/, `/${name}`);

    const fudiPort = await freePort();
    const issuer = `http://127.0.0.1:${fudiPort}`;
    const oeSecret = randomSecret(32);
    const fudi = await buildIdentityProvider(
      readFudiConfig({
        DATABASE_URL: dbUrl('bench_identity'),
        FUDI_ISSUER: issuer,
        FUDI_COOKIE_SECRET: randomSecret(32),
        PORT: String(fudiPort),
        LOG_LEVEL: 'silent',
        FUDI_CLIENTS: JSON.stringify([
          {
            clientId: 'orchestration-engine',
            name: 'OE',
            clientSecret: oeSecret,
            grantTypes: ['client_credentials'],
            resources: ['urn:ndx:pdp'],
          },
        ]),
      }),
      logger,
    );
    await fudi.app.listen({ port: fudiPort, host: '127.0.0.1' });
    closers.push(() => fudi.app.close());

    const pdp = await buildApp(
      readPdpConfig({ DATABASE_URL: dbUrl('bench_policy'), FUDI_ISSUER: issuer, LOG_LEVEL: 'silent' }),
      logger,
      { clock: () => new Date() },
    );
    await pdp.listen({ port: 0, host: '127.0.0.1' });
    closers.push(() => pdp.close());
    const url = `http://127.0.0.1:${(pdp.server.address() as AddressInfo).port}`;

    const tokenResponse = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`orchestration-engine:${oeSecret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ grant_type: 'client_credentials', resource: 'urn:ndx:pdp' }),
    });
    const { access_token: token } = (await tokenResponse.json()) as { access_token: string };
    const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
    const check = await fetch(`${url}/v1/decisions`, {
      method: 'POST',
      headers,
      body: JSON.stringify(request),
    });
    if (check.status !== 200) throw new Error(`PDP answered ${check.status}: ${await check.text()}`);

    const result = await runLoad({
      url: `${url}/v1/decisions`,
      method: 'POST',
      headers,
      body: JSON.stringify(request),
      connections,
      duration: seconds,
    });
    const failures = result.non2xx + result.errors + result.timeouts;
    console.log(
      `HTTP        ${result.requests.total} decisions x 20 fields in ${seconds}s over ${connections} connections: ` +
        `${result.requests.average.toFixed(0)} decisions/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms, failures ${failures}`,
    );
  } finally {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    await postgres.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}

inProcess();
await overHttp();
