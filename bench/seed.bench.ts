/**
 * Seeding benchmark (not a test): loads the synthetic registries into fresh RGD, DRP and DMT
 * databases the way init.sh does (migrate, then one COPY transaction each) and prints rows/s.
 *
 *   node bench/seed.bench.ts                      # 100,000 citizens, embedded PostgreSQL in a temp dir
 *   SEED_CITIZENS=20000 node bench/seed.bench.ts
 *   BENCH_DATABASE_URL=postgres://admin@host/postgres node bench/seed.bench.ts   # an existing server
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { createLogger, createPool, migrate } from '@ndx/service-kit';
import { startEmbeddedPostgres, withDatabase } from '@ndx/service-kit/postgres';
import { freePort } from '@ndx/service-kit/testing';
import { DEFAULT_CITIZENS, generateCitizens } from '@ndx/synthetic-data';
import { seedRegistry, type Registry } from '@ndx/synthetic-data/seeding';

const repoRoot = join(import.meta.dirname, '..');
const migrationDirs: Record<Registry, string> = {
  rgd: join(repoRoot, 'members/rgd/data-sources/rgd-api/migrations'),
  drp: join(repoRoot, 'members/drp/data-sources/drp-api/migrations'),
  dmt: join(repoRoot, 'members/dmt/data-sources/dmt-soap-api/migrations'),
};

async function main(): Promise<void> {
  const citizens = Number(process.env.SEED_CITIZENS ?? DEFAULT_CITIZENS);
  let adminUrl = process.env.BENCH_DATABASE_URL;
  let stopPostgres = async () => undefined;
  if (!adminUrl) {
    const dir = await mkdtemp(join(tmpdir(), 'ndx-seed-bench-'));
    const { chmod } = await import('node:fs/promises');
    await chmod(dir, 0o755);
    const server = await startEmbeddedPostgres({
      dataDir: join(dir, 'data'),
      port: await freePort(),
      superuserPassword: randomBytes(16).toString('hex'),
      ephemeral: true,
    });
    adminUrl = server.adminUrl;
    stopPostgres = async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    };
  }
  const logger = createLogger('seed-bench', { level: 'warn' });
  try {
    let t = performance.now();
    let n = 0;
    for (const _ of generateCitizens({ citizens })) n++;
    const genMs = performance.now() - t;
    console.log(`generate ${n} citizens (all three registries): ${genMs.toFixed(0)} ms`);

    const results: string[] = [];
    const wallStart = performance.now();
    // Sequentially, one registry at a time, so each rate is measured alone.
    for (const registry of ['rgd', 'drp', 'dmt'] as const) {
      const name = `bench_${registry}_${randomBytes(3).toString('hex')}`;
      await adminQuery(adminUrl, `CREATE DATABASE ${name}`);
      const pool = createPool(withDatabase(adminUrl, name), logger, { statementTimeoutMs: 300_000 });
      try {
        await migrate(pool, migrationDirs[registry]);
        t = performance.now();
        const result = await seedRegistry(pool, registry, { citizens });
        const ms = performance.now() - t;
        if (result.status !== 'seeded') throw new Error('expected a fresh database');
        const rows = Object.values(result.rows).reduce((a, b) => a + b, 0);
        results.push(
          `${registry}: ${rows} rows (${JSON.stringify(result.rows)}) in ${ms.toFixed(0)} ms = ${Math.round(rows / (ms / 1000))} rows/s`,
        );
      } finally {
        await pool.end();
        await adminQuery(adminUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      }
    }
    for (const line of results) console.log(line);
    console.log(
      `all three registries, ${citizens} citizens: ${(performance.now() - wallStart).toFixed(0)} ms`,
    );
  } finally {
    await stopPostgres();
  }
}

async function adminQuery(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
