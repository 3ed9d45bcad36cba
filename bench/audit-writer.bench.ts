/**
 * The audit writer at thousands of records per second, and the log at 10,000,000 rows (issue 12, item 4).
 *
 *   node bench/audit-writer.bench.ts                  throw-away embedded PostgreSQL (fsync on, synchronous_commit on)
 *   BENCH_DATABASE_URL=postgres://admin@…/postgres node bench/audit-writer.bench.ts
 *                                                     that server (creates and drops a scratch database)
 *
 * 1. Throughput: appends/s and append p50/p99 with 1 → 256 concurrent appenders, each awaiting its append,
 *    for one writer (one chain) with pipeline depth 1 and 2, and for two writers (two OE instances, two
 *    chains) side by side.
 * 2. Scale: the log filled with SQL generate_series to 100,000 rows, then to BENCH_ROWS (default
 *    10,000,000; filling stops early when it has taken BENCH_FILL_SECONDS, default 420, and the size
 *    reached is reported). At each size: append p50/p99 (BENCH_SCALE_CONCURRENCY appenders, default 16)
 *    and the citizen's access-log page p50/p99 (first page of 3, and the page after it), for random
 *    citizens out of 20,000 (each in 5 records at 100,000 rows, 500 at 10,000,000).
 * Options (env): BENCH_SECONDS per throughput setting (default 4), BENCH_CONCURRENCY (default
 * "1,8,64,256"), BENCH_JSON (a file to write the results to as JSON).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createLogger, createPool, type Pool } from '@ndx/service-kit';
import { startEmbeddedPostgres, withDatabase } from '@ndx/service-kit/postgres';
import {
  createAuditWriter,
  listAccessesForCitizen,
  migrateAudit,
  verifyChain,
  type AuditRecordInput,
} from '@ndx/audit';

const seconds = Number(process.env.BENCH_SECONDS ?? 4);
const concurrencies = (process.env.BENCH_CONCURRENCY ?? '1,8,64,256')
  .split(',')
  .map((s) => Math.min(2_000, Math.max(1, Number(s.trim()) || 1)));
const targetRows = Number(process.env.BENCH_ROWS ?? 10_000_000);
const fillSeconds = Number(process.env.BENCH_FILL_SECONDS ?? 420);
const scaleConcurrency = Number(process.env.BENCH_SCALE_CONCURRENCY ?? 16);
/**
 * Citizens the records are about. The bulk rows cycle through all of them (7919 is prime to it), so at
 * 100,000 rows every citizen is in exactly 5 records and at 10,000,000 in 500: pages of 3 are full at
 * both sizes and compare like with like.
 */
const CITIZENS = 20_000;
const logger = createLogger('audit-writer-bench', { level: 'warn' });
const results: Record<string, unknown> = { startedAt: new Date().toISOString() };

const nicOf = (n: number) => String(190000000000 + (n % CITIZENS));

function record(i: number): AuditRecordInput {
  return {
    traceId: randomUUID().replaceAll('-', ''),
    consumerId: 'passport-app',
    purpose: 'passport-application',
    citizenId: nicOf(Math.floor(Math.random() * CITIZENS) + i * 0),
    operationName: 'PassportApplication',
    fieldsRequested: [
      { providerKey: 'RGD', schemaId: 'rgd-v1', field: 'person.fullName' },
      { providerKey: 'RGD', schemaId: 'rgd-v1', field: 'person.birthInfo.birthPlace' },
      { providerKey: 'DRP', schemaId: 'drp-v1', field: 'person.address' },
      { providerKey: 'DRP', schemaId: 'drp-v1', field: 'person.profession' },
    ],
    fieldsReleased: [
      {
        providerKey: 'RGD',
        schemaId: 'rgd-v1',
        field: 'person.fullName',
        allowedBy: { basis: 'policy', policyIds: ['p1'] },
      },
      {
        providerKey: 'RGD',
        schemaId: 'rgd-v1',
        field: 'person.birthInfo.birthPlace',
        allowedBy: { basis: 'policy', policyIds: ['p1'] },
      },
      {
        providerKey: 'DRP',
        schemaId: 'drp-v1',
        field: 'person.address',
        allowedBy: { basis: 'consent', consentId: 'c-1' },
      },
    ],
    fieldsWithheld: [
      { providerKey: 'DRP', schemaId: 'drp-v1', field: 'person.profession', reason: 'FORBIDDEN' },
    ],
    decisionId: randomUUID(),
    policyVersion: '3',
    consentId: 'c-1',
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

/** Exact percentile of measured values (not a histogram bucket bound). */
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

interface AppendRun {
  writers: number;
  depth: number;
  concurrency: number;
  appendsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  recordsPerStatement: number;
  conflicts: number;
  failed: number;
}

/** `concurrency` appenders in a closed loop over `writers` writers (one chain each) for `secs` seconds. */
async function appendLoad(
  url: string,
  options: { writers: number; depth: number; concurrency: number; secs: number },
): Promise<AppendRun> {
  const pools = Array.from({ length: options.writers }, () => createPool(url, logger, { max: 4 }));
  const batches: number[] = [];
  let conflicts = 0;
  const writers = pools.map((pool) =>
    createAuditWriter(pool, logger, {
      pipelineDepth: options.depth,
      onBatch: (b) => {
        if (b.committed) batches.push(b.records);
        if (b.conflict) conflicts += 1;
      },
    }),
  );
  const latencies: number[] = [];
  const deadline = performance.now() + options.secs * 1_000;
  let counter = 0;
  let failed = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: options.concurrency }, async (_, worker) => {
      const writer = writers[worker % writers.length]!;
      while (performance.now() < deadline) {
        const t0 = performance.now();
        try {
          await writer.append(record(counter++));
          latencies.push(performance.now() - t0);
        } catch {
          failed++;
        }
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1_000;
  await Promise.all(writers.map((w) => w.close()));
  await Promise.all(pools.map((p) => p.end()));
  latencies.sort((a, b) => a - b);
  return {
    ...options,
    appendsPerSecond: Math.round(latencies.length / elapsed),
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(percentile(latencies, 99)),
    recordsPerStatement: round(batches.length ? batches.reduce((a, b) => a + b, 0) / batches.length : 0),
    conflicts,
    failed,
  };
}

const round = (n: number) => Math.round(n * 100) / 100;

function printRun(r: AppendRun): void {
  console.log(
    [
      `writers ${r.writers}`,
      `depth ${r.depth}`,
      `appenders ${String(r.concurrency).padStart(3)}`,
      `${String(r.appendsPerSecond).padStart(6)} appends/s`,
      `p50 ${r.p50Ms.toFixed(1)} ms`,
      `p99 ${r.p99Ms.toFixed(1)} ms`,
      `${r.recordsPerStatement} records/statement`,
      `${r.conflicts} conflicts`,
      `${r.failed} failed`,
    ].join(' | '),
  );
}

/** Rows shaped like the writer's (format 3, same JSON), appended with SQL in one chain, cycling through the citizens. */
async function fill(pool: Pool, from: number, to: number): Promise<void> {
  const released = JSON.stringify(record(0).fieldsReleased);
  const requested = JSON.stringify(record(0).fieldsRequested);
  const withheld = JSON.stringify(record(0).fieldsWithheld);
  const providers = JSON.stringify(record(0).providers);
  const timings = JSON.stringify(record(0).timings);
  await pool.query(
    `INSERT INTO audit_log (format_version, chain_id, seq, occurred_at, trace_id, consumer_id, purpose, citizen_id,
       operation_name, fields_requested, fields_released, fields_withheld, decision_id, policy_version, consent_id,
       providers, timings, outcome, prev_hash, hash, reference)
     SELECT 3, 'bulk', g, timestamptz '2025-01-01' + g * interval '2 seconds', m, 'passport-app',
       'passport-application', (190000000000 + (g::bigint * 7919) % ${CITIZENS})::text, 'PassportApplication',
       $3::jsonb, $4::jsonb, $5::jsonb, m, '3', 'c-1', $6::jsonb, $7::jsonb, 'PARTIAL',
       reverse(m) || m, m || reverse(m), m::uuid::text
     FROM (SELECT g, md5(g::text) AS m FROM generate_series($1::bigint, $2::bigint) AS g) AS s`,
    [from, to, requested, released, withheld, providers, timings],
  );
}

interface ScaleRun {
  rows: number;
  append: AppendRun;
  accessLog: {
    pages: number;
    firstP50Ms: number;
    firstP99Ms: number;
    nextP50Ms: number;
    nextP99Ms: number;
    avgItems: number;
  };
}

async function measureAt(url: string, rows: number): Promise<ScaleRun> {
  const append = await appendLoad(url, {
    writers: 1,
    depth: 2,
    concurrency: scaleConcurrency,
    secs: seconds,
  });
  const pool = createPool(url, logger, { max: 1 });
  const first: number[] = [];
  const next: number[] = [];
  let items = 0;
  const pages = 1_000;
  for (let i = 0; i < pages; i++) {
    const nic = nicOf(Math.floor(Math.random() * CITIZENS));
    let t0 = performance.now();
    const page = await listAccessesForCitizen(pool, nic, { limit: 3 });
    first.push(performance.now() - t0);
    items += page.items.length;
    t0 = performance.now();
    await listAccessesForCitizen(pool, nic, { limit: 3, before: page.nextBefore ?? 1 });
    next.push(performance.now() - t0);
  }
  await pool.end();
  first.sort((a, b) => a - b);
  next.sort((a, b) => a - b);
  const run: ScaleRun = {
    rows,
    append,
    accessLog: {
      pages,
      firstP50Ms: round(percentile(first, 50)),
      firstP99Ms: round(percentile(first, 99)),
      nextP50Ms: round(percentile(next, 50)),
      nextP99Ms: round(percentile(next, 99)),
      avgItems: round(items / pages),
    },
  };
  console.log(
    `${rows.toLocaleString('en')} rows: append (${scaleConcurrency} appenders) p50 ${append.p50Ms} ms, p99 ${append.p99Ms} ms, ` +
      `${append.appendsPerSecond}/s | access log first page p50 ${run.accessLog.firstP50Ms} ms, p99 ${run.accessLog.firstP99Ms} ms; ` +
      `next page p50 ${run.accessLog.nextP50Ms} ms, p99 ${run.accessLog.nextP99Ms} ms (${run.accessLog.avgItems} records/page)`,
  );
  return run;
}

async function main(): Promise<void> {
  let adminUrl = process.env.BENCH_DATABASE_URL;
  let cleanup = async () => undefined as void;
  if (!adminUrl) {
    const parent = await mkdtemp(join(tmpdir(), 'ndx-audit-writer-bench-'));
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
  const database = `audit_writer_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  const url = withDatabase(adminUrl, database);
  try {
    const pool = createPool(url, logger, { max: 2, statementTimeoutMs: 3_600_000 });
    await migrateAudit(pool);
    const settings = await pool.query<{ name: string; setting: string }>(
      `SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'wal_sync_method', 'server_version')`,
    );
    results['settings'] = Object.fromEntries(settings.rows.map((r) => [r.name, r.setting]));
    console.log(`PostgreSQL: ${settings.rows.map((r) => `${r.name}=${r.setting}`).join(', ')}`);

    console.log(`\n1. throughput, ${seconds} s per setting`);
    const throughput: AppendRun[] = [];
    for (const concurrency of concurrencies) {
      for (const [writers, depth] of [
        [1, 1],
        [1, 2],
        [2, 2],
      ] as const) {
        const run = await appendLoad(url, { writers, depth, concurrency, secs: seconds });
        printRun(run);
        throughput.push(run);
      }
    }
    results['throughput'] = throughput;
    const t0 = performance.now();
    const verified = await verifyChain(pool);
    const verifyMs = performance.now() - t0;
    console.log(
      `verify: ${verified.ok ? 'intact' : `BROKEN (${verified.chainId} at ${verified.firstBrokenSeq})`}, ` +
        `${verified.count} records in ${verified.chains.length} chains in ${Math.round(verifyMs)} ms ` +
        `(${Math.round(verified.count / (verifyMs / 1_000))} records/s)`,
    );
    results['verify'] = {
      ok: verified.ok,
      records: verified.count,
      chains: verified.chains.length,
      ms: Math.round(verifyMs),
    };

    console.log(`\n2. scale (log filled with generate_series; appends with ${scaleConcurrency} appenders)`);
    const scale: ScaleRun[] = [];
    const existing = Number(
      (await pool.query<{ n: string }>('SELECT count(*) AS n FROM audit_log')).rows[0]!.n,
    );
    let rows = existing;
    const fillStarted = performance.now();
    const fillTo = async (target: number) => {
      const chunk = 500_000;
      let seq = rows - existing;
      while (rows < target && (performance.now() - fillStarted) / 1_000 < fillSeconds) {
        const n = Math.min(chunk, target - rows);
        await fill(pool, seq + 1, seq + n);
        seq += n;
        rows += n;
      }
      await pool.query('VACUUM ANALYZE audit_log');
    };
    await fillTo(100_000);
    scale.push(await measureAt(url, rows));
    await fillTo(targetRows);
    const filledSeconds = Math.round((performance.now() - fillStarted) / 1_000);
    if (rows < targetRows)
      console.log(`filling stopped at ${rows.toLocaleString('en')} rows after ${filledSeconds} s`);
    else console.log(`filled to ${rows.toLocaleString('en')} rows in ${filledSeconds} s`);
    scale.push(await measureAt(url, rows));
    results['scale'] = scale;
    const size = await pool.query<{ size: string }>(
      `SELECT pg_size_pretty(pg_total_relation_size('audit_log')) AS size`,
    );
    console.log(`audit_log with its indexes: ${size.rows[0]!.size}`);
    const [small, large] = scale;
    if (small && large) {
      console.log(
        `growth ${small.rows.toLocaleString('en')} → ${large.rows.toLocaleString('en')} rows: append p99 × ${round(large.append.p99Ms / small.append.p99Ms)}, ` +
          `access-log first page p99 × ${round(large.accessLog.firstP99Ms / small.accessLog.firstP99Ms)}, next page p99 × ${round(large.accessLog.nextP99Ms / small.accessLog.nextP99Ms)}`,
      );
    }
    await pool.end();
    if (process.env.BENCH_JSON)
      await writeFile(process.env.BENCH_JSON, `${JSON.stringify(results, null, 2)}\n`);
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
    await cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(`audit writer bench failed: ${err instanceof Error ? err.stack : String(err)}`);
  process.exit(1);
});
