import { cp, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, migrate, readMigrations, type Pool } from '../src/index.ts';
import { createTestDatabase, testLogger, type TestDatabase } from '../testing/index.ts';

const fixtureDir = join(import.meta.dirname, 'migrations-fixture');

describe('migrations', () => {
  let db: TestDatabase;
  let pool: Pool;
  beforeAll(async () => {
    db = await createTestDatabase('migrations');
    pool = createPool(db.url, testLogger());
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  it('applies numbered files in order and records them', async () => {
    const result = await migrate(pool, fixtureDir);
    expect(result.applied).toEqual(['001_create_people.sql', '002_add_email.sql']);
    const { rows } = await pool.query('SELECT name, email FROM people');
    expect(rows).toEqual([{ name: 'Ada', email: 'ada@example.fl' }]);
  });

  it('running twice applies nothing the second time and keeps the data', async () => {
    const result = await migrate(pool, fixtureDir);
    expect(result.applied).toEqual([]);
    expect(result.alreadyApplied).toBe(2);
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM people');
    expect(rows[0].n).toBe(1);
  });

  it('refuses a migration that was edited after it was applied', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ndx-mig-'));
    await cp(fixtureDir, dir, { recursive: true });
    await writeFile(join(dir, '001_create_people.sql'), 'CREATE TABLE people (id int);');
    await expect(migrate(pool, dir)).rejects.toThrow(/001_create_people.sql was changed/);
  });

  it('a failing migration rolls back whole and is not recorded', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ndx-mig-'));
    await cp(fixtureDir, dir, { recursive: true });
    await writeFile(
      join(dir, '003_broken.sql'),
      'CREATE TABLE half_done (id int); SELECT no_such_function();',
    );
    await expect(migrate(pool, dir)).rejects.toThrow(/003_broken.sql failed/);
    const { rows } = await pool.query("SELECT to_regclass('half_done') AS t");
    expect(rows[0].t).toBeNull();
    const recorded = await pool.query('SELECT count(*)::int AS n FROM ndx_schema_migrations');
    expect(recorded.rows[0].n).toBe(2);
  });

  it('rejects files that are not named NNN_description.sql', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ndx-mig-'));
    await writeFile(join(dir, 'create.sql'), 'SELECT 1;');
    await expect(readMigrations(dir)).rejects.toThrow(/not named NNN_description.sql/);
  });
});

describe('concurrent migrations', () => {
  it('five processes migrating one fresh database at once apply each file exactly once', async () => {
    const db = await createTestDatabase('migrations_concurrent');
    const pools = Array.from({ length: 5 }, () => createPool(db.url, testLogger()));
    try {
      const results = await Promise.all(pools.map((p) => migrate(p, fixtureDir)));
      const appliedCount = results.reduce((n, r) => n + r.applied.length, 0);
      expect(appliedCount).toBe(2);
      const { rows } = await pools[0]!.query('SELECT count(*)::int AS n FROM people');
      expect(rows[0].n).toBe(1);
    } finally {
      await Promise.all(pools.map((p) => p.end()));
      await db.drop();
    }
  });
});
