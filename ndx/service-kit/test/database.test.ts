import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool, type Pool } from '../src/index.ts';
import { createTestDatabase, type TestDatabase } from '../testing/index.ts';

describe('createPool', () => {
  let db: TestDatabase;
  let pool: Pool;
  let admin: Pool;
  const warnings: string[] = [];
  beforeAll(async () => {
    db = await createTestDatabase('pool');
    const logger = pino({ level: 'warn' }, { write: (line: string) => warnings.push(JSON.parse(line).msg) });
    pool = createPool(db.url, logger);
    admin = createPool(db.url, logger);
  });
  afterAll(async () => {
    await pool.end();
    await admin.end();
    await db.drop();
  });

  it('survives a connection that the server ends while it is checked out: the statement fails, the process does not, the pool recovers', async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.prependListener('uncaughtException', onUncaught);
    try {
      const client = await pool.connect();
      const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      await client.query('BEGIN');
      // What a PostgreSQL restart does to every open connection.
      await admin.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
      await expect.poll(() => warnings).toContain('database connection failed');
      await expect(client.query('SELECT 1')).rejects.toThrow();
      client.release(true);
      const after = await pool.query<{ one: number }>('SELECT 1 AS one');
      expect(after.rows).toEqual([{ one: 1 }]);
    } finally {
      process.removeListener('uncaughtException', onUncaught);
    }
    expect(uncaught).toEqual([]);
  });

  it('logs an idle connection that the server ends once, and the next statement gets a new connection', async () => {
    const { rows } = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    warnings.length = 0;
    await admin.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
    await expect.poll(() => warnings).toContain('database connection failed');
    await new Promise((r) => setTimeout(r, 200));
    expect(warnings.filter((w) => /connection failed/.test(w))).toEqual(['database connection failed']);
    const after = await pool.query<{ one: number }>('SELECT 1 AS one');
    expect(after.rows).toEqual([{ one: 1 }]);
  });
});
