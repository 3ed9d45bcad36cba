import { cp, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withServiceDatabase, type Pool } from '../src/index.ts';
import { createTestDatabase, testLogger, type TestDatabase } from '../testing/index.ts';

const fixtureDir = join(import.meta.dirname, 'migrations-fixture');

describe('withServiceDatabase (the prelude of a database-backed service)', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase('database_service');
  });
  afterAll(async () => {
    await db.drop();
  });

  const options = () => ({
    name: 'database-service-test',
    logger: testLogger(),
    databaseUrl: db.url,
    migrationsDir: fixtureDir,
  });

  it('migrates before building, checks the database in /ready, and ends the pool after the service closes', async () => {
    const closed: string[] = [];
    let pool: Pool | undefined;
    const app = await withServiceDatabase(options(), async (database) => {
      pool = database.pool;
      const { rows } = await database.pool.query('SELECT name, email FROM people');
      expect(rows).toEqual([{ name: 'Ada', email: 'ada@example.fl' }]);
      return database.httpService({
        readinessChecks: { cache: async () => true },
        onClose: async () => {
          closed.push(`service closed, pool ended: ${database.pool.ended}`);
        },
      });
    });
    const ready = await app.inject({ method: 'GET', url: '/ready' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toEqual({
      status: 'ready',
      service: 'database-service-test',
      checks: { database: true, cache: true },
    });
    const { rows } = await pool!.query(
      'SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()',
    );
    expect(rows).toEqual([{ application_name: 'database-service-test' }]);

    await app.close();
    expect(closed).toEqual(['service closed, pool ended: false']);
    expect(pool!.ended).toBe(true);
  });

  it('ends the pool and passes the error on when building the service fails', async () => {
    let pool: Pool | undefined;
    const failing = withServiceDatabase(options(), async (database) => {
      pool = database.pool;
      throw new Error('no signing key');
    });
    await expect(failing).rejects.toThrow('no signing key');
    expect(pool!.ended).toBe(true);
  });

  it('never builds the service when a migration fails, and passes the error on', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ndx-dbsvc-'));
    await cp(fixtureDir, dir, { recursive: true });
    await writeFile(join(dir, '003_broken.sql'), 'CREATE TABLE broken (;');
    let built = false;
    const failing = withServiceDatabase({ ...options(), migrationsDir: dir }, async () => {
      built = true;
    });
    await expect(failing).rejects.toThrow(/migration 003_broken.sql failed/);
    expect(built).toBe(false);
  });
});
