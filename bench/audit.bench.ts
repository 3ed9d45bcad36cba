/**
 * Audit writer throughput: appends per second with 1, 8 and 64 concurrent appenders, each
 * awaiting its append (so at most that many records in flight), against a real PostgreSQL.
 *
 *   node bench/audit.bench.ts                 starts a throw-away embedded PostgreSQL
 *   BENCH_DATABASE_URL=postgres://admin@…/postgres node bench/audit.bench.ts
 *                                             uses that server (creates and drops a scratch database)
 * Options (env): BENCH_SECONDS per setting (default 4), BENCH_CONCURRENCY (default "1,8,64").
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm, chmod } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createLogger, createPool } from '@ndx/service-kit';
import { startEmbeddedPostgres, withDatabase } from '@ndx/service-kit/postgres';
import { createAuditWriter, migrateAudit, verifyChain, type AuditRecordInput } from '@ndx/audit';

const seconds = Number(process.env.BENCH_SECONDS ?? 4);
const concurrencies = (process.env.BENCH_CONCURRENCY ?? '1,8,64')
  .split(',')
  .map((s) => Math.min(1_000, Math.max(1, Number(s.trim()) || 1)));
const logger = createLogger('audit-bench', { level: 'warn' });

function record(i: number): AuditRecordInput {
  return {
    traceId: randomUUID().replaceAll('-', ''),
    consumerId: 'passport-app',
    purpose: 'passport-application',
    citizenId: String(199560200000 + (i % 5_000)),
    operationName: 'PassportApplication',
    fieldsRequested: [
      { providerKey: 'RGD', schemaId: 'rgd-v1', field: 'person.fullName' },
      { providerKey: 'RGD', schemaId: 'rgd-v1', field: 'person.birthInfo.birthPlace' },
      { providerKey: 'DRP', schemaId: 'drp-v1', field: 'person.address' },
      { providerKey: 'DRP', schemaId: 'drp-v1', field: 'person.profession' },
    ],
    fieldsReleased: [
      { providerKey: 'RGD', schemaId: 'rgd-v1', field: 'person.fullName' },
      { providerKey: 'RGD', schemaId: 'rgd-v1', field: 'person.birthInfo.birthPlace' },
      { providerKey: 'DRP', schemaId: 'drp-v1', field: 'person.address' },
    ],
    fieldsWithheld: [
      { providerKey: 'DRP', schemaId: 'drp-v1', field: 'person.profession', reason: 'FORBIDDEN' },
    ],
    decisionId: randomUUID(),
    policyVersion: '3',
    consentId: randomUUID(),
    providers: [
      { providerKey: 'RGD', latencyMs: 11.2, outcome: 'OK', httpStatus: 200 },
      { providerKey: 'DRP', latencyMs: 17.9, outcome: 'OK', httpStatus: 200 },
    ],
    timings: { validate: 0.3, plan: 0.05, pdp: 3.1, ce: 2.4, 'provider.RGD': 11.2, 'provider.DRP': 17.9 },
    outcome: 'PARTIAL',
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function runSetting(url: string, concurrency: number): Promise<void> {
  const pool = createPool(url, logger, { max: 4 });
  const batches: number[] = [];
  const writer = createAuditWriter(pool, logger, { onBatch: (b) => batches.push(b.records) });
  const latencies: number[] = [];
  const deadline = performance.now() + seconds * 1_000;
  let counter = 0;
  let failures = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        try {
          await writer.append(record(counter++));
          latencies.push(performance.now() - t0);
        } catch {
          failures++;
        }
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1_000;
  await writer.close();
  await pool.end();
  latencies.sort((a, b) => a - b);
  const avgBatch = batches.length ? batches.reduce((a, b) => a + b, 0) / batches.length : 0;
  console.log(
    [
      `concurrency ${String(concurrency).padStart(3)}`,
      `${Math.round(latencies.length / elapsed)
        .toString()
        .padStart(6)} appends/s`,
      `p50 ${percentile(latencies, 50).toFixed(2)} ms`,
      `p99 ${percentile(latencies, 99).toFixed(2)} ms`,
      `${batches.length} transactions, ${avgBatch.toFixed(1)} records/transaction`,
      `${failures} failed`,
    ].join(' | '),
  );
}

async function main(): Promise<void> {
  let adminUrl = process.env.BENCH_DATABASE_URL;
  let cleanup = async () => undefined as void;
  if (!adminUrl) {
    const parent = await mkdtemp(join(tmpdir(), 'ndx-audit-bench-'));
    await chmod(parent, 0o755);
    const server = await startEmbeddedPostgres({
      dataDir: join(parent, 'data'),
      port: await freePort(),
      superuserPassword: randomBytes(18).toString('base64url'),
      ephemeral: true,
    });
    adminUrl = server.adminUrl;
    cleanup = async () => {
      await server.stop();
      await rm(parent, { recursive: true, force: true });
    };
  }
  const database = `audit_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  const url = withDatabase(adminUrl, database);
  try {
    const pool = createPool(url, logger, { max: 1 });
    await migrateAudit(pool);
    await pool.end();
    console.log(`audit writer benchmark: ${seconds} s per setting, one writer, one pool of 4 connections`);
    for (const concurrency of concurrencies) await runSetting(url, concurrency);
    const verifyPool = createPool(url, logger, { max: 1 });
    const t0 = performance.now();
    const result = await verifyChain(verifyPool);
    const ms = performance.now() - t0;
    console.log(
      `verify: ${result.ok ? 'intact' : `BROKEN at ${result.firstBrokenId}`}, ${result.count} records in ${Math.round(ms)} ms ` +
        `(${Math.round(result.count / (ms / 1_000))} records/s)`,
    );
    await verifyPool.end();
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
    await cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(`audit bench failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
